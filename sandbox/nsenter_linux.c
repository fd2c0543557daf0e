//go:build linux && cgo

// The instance process's entry into its namespaces, run by the C library
// before the Go runtime starts, while the process still has a single thread:
// setns(2) into a mount namespace needs that, and every other setns or
// unshare made here applies to the whole process, as no thread exists yet to
// be left behind.
//
// It does something only in an instance process whose environment holds the
// plan Spawn wrote (nsenterPlanVar), a list of space-separated steps:
//
//	cgroup:FD      write "0" to FD, a cgroup v1 tasks file, then close FD
//	join:TYPE:FD   setns(FD, TYPE), then close FD
//	wait:FD        read FD until end of file (Spawn closes its end once the
//	               process sits in the container's cgroup), then close FD
//	unshare:TYPE   create a namespace of TYPE
//
// done in that order: every cgroup entry, every join, then the wait, then
// one unshare of every type. Writing "0" to a tasks file moves the calling
// thread, the whole process while it has one: a move the kernel makes
// without the global lock it takes to move another process from outside. TYPE is net, ipc, uts, mnt or cgroup. A failure stops the plan; it is
// kept for the Go side (wasm_nsenter_failure), which reports it to the shim
// as the reason the instance cannot run, rather than dying here unheard.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsenter_linux.h"

static char failure[256];

const char *wasm_nsenter_failure(void) {
	return failure[0] != '\0' ? failure : NULL;
}

static void fail(const char *step, int err) {
	snprintf(failure, sizeof failure, "%s: %s", step, strerror(err));
}

static int clone_flag(const char *type, size_t len) {
	static const struct {
		const char *name;
		int flag;
	} types[] = {
		{"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
		{"mnt", CLONE_NEWNS}, {"cgroup", CLONE_NEWCGROUP},
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (strlen(types[i].name) == len && strncmp(types[i].name, type, len) == 0) {
			return types[i].flag;
		}
	}
	return 0;
}

// is_instance reads the process's own command line: the plan applies only
// to "<exe> instance ...", never to the shim itself should the variable leak
// into its environment.
static int is_instance(void) {
	// Room for any executable path (PATH_MAX) and the command after it: a
	// short buffer would cut a long argv[0] and skip the plan silently.
	char cmdline[4096 + 64];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 0;
	}
	ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
	close(fd);
	if (n <= 0) {
		return 0;
	}
	cmdline[n] = '\0';
	size_t argv0 = strlen(cmdline);
	if ((ssize_t)argv0 + 1 >= n) {
		return 0;
	}
	return strcmp(cmdline + argv0 + 1, WASM_INSTANCE_COMMAND) == 0;
}

// parse_fd reads a descriptor number that ends at a space or the end.
static int parse_fd(const char *s, const char **end) {
	char *stop;
	errno = 0;
	long fd = strtol(s, &stop, 10);
	if (errno != 0 || stop == s || fd < 3 || fd > 1024 || (*stop != ' ' && *stop != '\0')) {
		return -1;
	}
	*end = stop;
	return (int)fd;
}

static void drain(int fd) {
	char buf[64];
	ssize_t n;
	do {
		n = read(fd, buf, sizeof buf);
	} while (n > 0 || (n < 0 && errno == EINTR));
}

__attribute__((constructor)) static void wasm_nsenter(void) {
	const char *plan = getenv(WASM_NSENTER_PLAN_VAR);
	if (plan == NULL || !is_instance()) {
		return;
	}
	int wait_fd = -1;
	int unshare_flags = 0;
	const char *p = plan;
	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		const char *end = NULL;
		if (strncmp(p, "cgroup:", 7) == 0) {
			int fd = parse_fd(p + 7, &end);
			if (fd < 0) {
				break;
			}
			if (write(fd, "0", 1) != 1) {
				fail("enter cgroup", errno);
				return;
			}
			close(fd);
		} else if (strncmp(p, "join:", 5) == 0) {
			const char *type = p + 5;
			const char *colon = strchr(type, ':');
			int flag = colon != NULL ? clone_flag(type, (size_t)(colon - type)) : 0;
			int fd = colon != NULL ? parse_fd(colon + 1, &end) : -1;
			if (flag == 0 || fd < 0) {
				break;
			}
			if (setns(fd, flag) != 0) {
				char step[32];
				snprintf(step, sizeof step, "join %.*s namespace", (int)(colon - type), type);
				fail(step, errno);
				return;
			}
			close(fd);
		} else if (strncmp(p, "wait:", 5) == 0) {
			wait_fd = parse_fd(p + 5, &end);
			if (wait_fd < 0) {
				break;
			}
		} else if (strncmp(p, "unshare:", 8) == 0) {
			const char *type = p + 8;
			end = type + strcspn(type, " ");
			int flag = clone_flag(type, (size_t)(end - type));
			if (flag == 0) {
				break;
			}
			unshare_flags |= flag;
		} else {
			break;
		}
		p = end;
	}
	if (*p != '\0') {
		snprintf(failure, sizeof failure, "instance set-up: malformed plan at %.40s", p);
		return;
	}
	if (wait_fd >= 0) {
		drain(wait_fd);
		close(wait_fd);
	}
	if (unshare_flags != 0 && unshare(unshare_flags) != 0) {
		fail("create namespaces", errno);
	}
}
