// wasitool is one WASI preview-1 command that covers most behaviours the
// integration tests need, so that a single small module (one compile, one
// image) can exercise output, arguments, environment, exit codes, traps,
// filesystem access, stdin, memory limits and clocks.
//
// Build: clang --target=wasm32-wasi --sysroot=/usr -O2 -o wasitool.wasm wasitool.c
//
// Usage: wasitool COMMAND [ARGS...]; see usage() for the commands.
// Output formats are part of the tests' contract: change them together.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int usage(void) {
	fputs("usage: wasitool COMMAND [ARGS...]\n"
	      "commands:\n"
	      "  echo ARGS...       print ARGS joined by spaces\n"
	      "  args               print every argv element (argv[0] too), one per line\n"
	      "  env                print every environment entry, one per line\n"
	      "  exit N             exit with status N\n"
	      "  trap               execute an unreachable instruction\n"
	      "  spin               loop forever without system calls\n"
	      "  sleep SECS         sleep, then print \"slept\"\n"
	      "  cat FILE           copy FILE to stdout\n"
	      "  write FILE TEXT    create or truncate FILE and write TEXT\n"
	      "  append FILE TEXT   append TEXT to FILE\n"
	      "  ls DIR             print DIR's entries, sorted, one per line\n"
	      "  symlink TARGET LINK\n"
	      "  mkdir DIR\n"
	      "  rm PATH            remove a file, link or empty directory\n"
	      "  stdin              copy stdin to stdout until EOF\n"
	      "  stderr TEXT        print TEXT to stderr\n"
	      "  alloc MIB [hold]   allocate and touch MIB MiB, 1 MiB at a time; with\n"
	      "                     hold, keep it and sleep until killed\n"
	      "  cwd                print the working directory\n"
	      "  time               print the real-time clock in seconds\n",
	      stderr);
	return 2;
}

// fail reports a failed operation the way the tests expect to match it:
// "error: <strerror>" on stderr and exit status 1.
static int fail(void) {
	fprintf(stderr, "error: %s\n", strerror(errno));
	return 1;
}

// need checks the argument count so that a missing operand is a usage error
// rather than a NULL dereference inside the guest.
static int need(int argc, int n) { return argc >= n; }

static int cmd_echo(int argc, char **argv) {
	for (int i = 2; i < argc; i++) {
		if (i > 2)
			putchar(' ');
		fputs(argv[i], stdout);
	}
	putchar('\n');
	return 0;
}

static int cmd_args(int argc, char **argv) {
	for (int i = 0; i < argc; i++)
		puts(argv[i]);
	return 0;
}

static int cmd_env(void) {
	for (char **e = environ; e && *e; e++)
		puts(*e);
	return 0;
}

static int cmd_spin(void) {
	// volatile keeps the optimiser from proving the loop has no effect and
	// deleting it (an infinite loop without side effects is UB in C).
	volatile unsigned long counter = 0;
	for (;;)
		counter++;
}

static int cmd_sleep(const char *secs) {
	struct timespec ts;
	double s = strtod(secs, NULL);
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	if (nanosleep(&ts, NULL) != 0)
		return fail();
	puts("slept");
	return 0;
}

static int copy_fd(int in, int out) {
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0)
			return fail();
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				return fail();
			off += w;
		}
	}
}

static int cmd_cat(const char *path) {
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail();
	int rc = copy_fd(fd, STDOUT_FILENO);
	close(fd);
	return rc;
}

static int write_text(const char *path, const char *text, int flags) {
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
	if (fd < 0)
		return fail();
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	if (n < 0 || (size_t)n != len) {
		int rc = fail();
		close(fd);
		return rc;
	}
	if (close(fd) != 0)
		return fail();
	return 0;
}

static int compare_names(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_ls(const char *path) {
	DIR *dir = opendir(path);
	if (!dir)
		return fail();
	char **names = NULL;
	size_t count = 0, capacity = 0;
	struct dirent *entry;
	errno = 0;
	while ((entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		if (count == capacity) {
			capacity = capacity ? capacity * 2 : 16;
			names = realloc(names, capacity * sizeof *names);
			if (!names)
				return fail();
		}
		names[count++] = strdup(entry->d_name);
	}
	if (errno != 0)
		return fail();
	closedir(dir);
	qsort(names, count, sizeof *names, compare_names);
	for (size_t i = 0; i < count; i++)
		puts(names[i]);
	return 0;
}

static int cmd_rm(const char *path) {
	struct stat st;
	if (lstat(path, &st) != 0)
		return fail();
	int rc = S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path);
	if (rc != 0)
		return fail();
	return 0;
}

// allocated chains every block cmd_alloc gets. Without a live reference the
// compiler may remove a malloc whose memory is never read, and the command
// would "succeed" at any size.
static void *volatile allocated;

static int cmd_alloc(const char *mib, int hold) {
	long want = strtol(mib, NULL, 10);
	const size_t step = 1 << 20;
	long got;
	for (got = 0; got < want; got++) {
		volatile char *block = malloc(step);
		if (!block) {
			fflush(stdout);
			fprintf(stderr, "alloc failed at %ld MiB\n", got);
			return 3;
		}
		// Touch every page so the memory is really committed by the
		// engine, not just reserved.
		for (size_t off = 0; off < step; off += 4096)
			block[off] = 1;
		*(void *volatile *)block = allocated;
		allocated = (void *)block;
	}
	printf("allocated %ld MiB\n", got);
	fflush(stdout);
	while (hold)
		sleep(3600);
	return 0;
}

static int cmd_cwd(void) {
	char buf[4096];
	if (!getcwd(buf, sizeof buf))
		return fail();
	puts(buf);
	return 0;
}

static int cmd_time(void) {
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return fail();
	printf("%lld\n", (long long)ts.tv_sec);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];

	if (strcmp(cmd, "echo") == 0)
		return cmd_echo(argc, argv);
	if (strcmp(cmd, "args") == 0)
		return cmd_args(argc, argv);
	if (strcmp(cmd, "env") == 0)
		return cmd_env();
	if (strcmp(cmd, "exit") == 0 && need(argc, 3))
		return atoi(argv[2]);
	if (strcmp(cmd, "trap") == 0) {
		fflush(stdout);
		__builtin_trap();
	}
	if (strcmp(cmd, "spin") == 0)
		return cmd_spin();
	if (strcmp(cmd, "sleep") == 0 && need(argc, 3))
		return cmd_sleep(argv[2]);
	if (strcmp(cmd, "cat") == 0 && need(argc, 3))
		return cmd_cat(argv[2]);
	if (strcmp(cmd, "write") == 0 && need(argc, 4))
		return write_text(argv[2], argv[3], O_TRUNC);
	if (strcmp(cmd, "append") == 0 && need(argc, 4))
		return write_text(argv[2], argv[3], O_APPEND);
	if (strcmp(cmd, "ls") == 0 && need(argc, 3))
		return cmd_ls(argv[2]);
	if (strcmp(cmd, "symlink") == 0 && need(argc, 4))
		return symlink(argv[2], argv[3]) == 0 ? 0 : fail();
	if (strcmp(cmd, "mkdir") == 0 && need(argc, 3))
		return mkdir(argv[2], 0755) == 0 ? 0 : fail();
	if (strcmp(cmd, "rm") == 0 && need(argc, 3))
		return cmd_rm(argv[2]);
	if (strcmp(cmd, "stdin") == 0)
		return copy_fd(STDIN_FILENO, STDOUT_FILENO);
	if (strcmp(cmd, "stderr") == 0 && need(argc, 3)) {
		fprintf(stderr, "%s\n", argv[2]);
		return 0;
	}
	if (strcmp(cmd, "alloc") == 0 && need(argc, 3))
		return cmd_alloc(argv[2], argc > 3 && strcmp(argv[3], "hold") == 0);
	if (strcmp(cmd, "cwd") == 0)
		return cmd_cwd();
	if (strcmp(cmd, "time") == 0)
		return cmd_time();
	return usage();
}
