// SPDX-License-Identifier: MIT
// Parse-only timing of Knot DNS's libzscanner (GPL-3+; built here for measuring, never
// shipped): every record copied into one growing buffer in the layout fastdns._zonefile
// returns, so both parsers do the same work. Prints records, seconds, peak RSS (KiB).
// Build: cc -O2 zscanner_bench.c -lzscanner -o zscanner_bench
#include <libzscanner/scanner.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct out { uint8_t *p; size_t len, cap; uint64_t count; };

static void put(struct out *o, const void *src, size_t n)
{
	if (o->len + n > o->cap) {
		while (o->len + n > o->cap)
			o->cap = o->cap ? o->cap * 2 : 1 << 16;
		o->p = realloc(o->p, o->cap);
		if (!o->p) { perror("realloc"); exit(1); }
	}
	memcpy(o->p + o->len, src, n);
	o->len += n;
}

static void on_record(zs_scanner_t *s)
{
	struct out *o = s->process.data;
	uint8_t fixed[10] = { s->r_type >> 8, s->r_type, s->r_class >> 8, s->r_class,
		s->r_ttl >> 24, s->r_ttl >> 16, s->r_ttl >> 8, s->r_ttl,
		s->r_data_length >> 8, s->r_data_length };
	put(o, s->r_owner, s->r_owner_length);
	put(o, fixed, sizeof fixed);
	put(o, s->r_data, s->r_data_length);
	o->count++;
}

static void on_error(zs_scanner_t *s)
{
	fprintf(stderr, "line %llu: %s\n", (unsigned long long)s->line_counter, zs_strerror(s->error.code));
	s->state = ZS_STATE_STOP;
}

// VmHWM, not getrusage's ru_maxrss: that one keeps the forking parent's peak across exec.
static long peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	if (argc != 3) { fprintf(stderr, "usage: %s FILE ORIGIN\n", argv[0]); return 2; }
	struct out o = { 0 };
	zs_scanner_t s;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (zs_init(&s, argv[2], 1, 3600) != 0 || zs_set_input_file(&s, argv[1]) != 0 ||
	    zs_set_processing(&s, on_record, on_error, &o) != 0 || zs_parse_all(&s) != 0) {
		fprintf(stderr, "zscanner: %s\n", zs_strerror(s.error.code));
		return 1;
	}
	zs_deinit(&s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%llu %.3f %ld\n", (unsigned long long)o.count,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, peak_rss_kib());
	free(o.p);
	return 0;
}
