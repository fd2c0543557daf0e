//go:build linux

package cgroup

import (
	"os"
	"time"
)

const (
	// oomSettle is how long the v1 watcher waits for the kill to be counted
	// after the kernel signalled an OOM: cgroup v1 notifies before the OOM
	// killer picks its victim.
	oomSettle = 200 * time.Millisecond
	// oomPoll is how often it looks at the count meanwhile.
	oomPoll = 5 * time.Millisecond
)

// oomWatch turns a cgroup's OOM notifications into values on a channel. Its
// goroutine waits on the notifier file through Go's poller, so an idle watch
// holds no thread.
type oomWatch struct {
	notifier *os.File
	done     chan struct{}
	exited   chan struct{}
}

// startOOMWatch starts watching ctl; events receives a value per OOM kill
// and is closed when the watch stops.
func startOOMWatch(ctl controller, events chan<- struct{}) (*oomWatch, error) {
	notifier, wakeIsOOM, err := ctl.oomNotifier()
	if err != nil {
		return nil, err
	}
	// Kills from before the watch started are not news.
	last, _ := ctl.oomKills()
	w := &oomWatch{notifier: notifier, done: make(chan struct{}), exited: make(chan struct{})}
	go w.run(ctl, events, wakeIsOOM, last)
	return w, nil
}

func (w *oomWatch) run(ctl controller, events chan<- struct{}, wakeIsOOM bool, last uint64) {
	defer close(w.exited)
	defer close(events)
	// Big enough for an eventfd counter and for a batch of inotify events.
	buf := make([]byte, 4096)
	for {
		if _, err := w.notifier.Read(buf); err != nil {
			// Closed by stop, or the descriptor broke: either way no more
			// notifications will come.
			return
		}
		kills, err := ctl.oomKills()
		if wakeIsOOM {
			kills, err = w.awaitKill(ctl, last, kills, err)
		}
		if err != nil {
			// The cgroup is gone (v1 also wakes watchers when a cgroup is
			// removed); nothing to report.
			continue
		}
		if kills <= last {
			// v2: another memory event; v1: an OOM that ended without a kill
			// (the OOM killer disabled), or a second notification for a
			// kill already reported.
			continue
		}
		news := kills - last
		last = kills
		for ; news > 0; news-- {
			select {
			case events <- struct{}{}:
			case <-w.done:
				return
			}
		}
	}
}

// awaitKill polls the kill count for a while after a v1 OOM notification,
// until it moves past last.
func (w *oomWatch) awaitKill(ctl controller, last, kills uint64, err error) (uint64, error) {
	deadline := time.Now().Add(oomSettle)
	for err == nil && kills <= last && time.Now().Before(deadline) {
		select {
		case <-time.After(oomPoll):
		case <-w.done:
			return kills, err
		}
		kills, err = ctl.oomKills()
	}
	return kills, err
}

// stop ends the watch and waits until its channel is closed.
func (w *oomWatch) stop() {
	close(w.done)
	// Closing the file makes the pending Read return.
	w.notifier.Close()
	<-w.exited
}
