/* The regression driver of the normal (gcc) build: runs a harness's LLVMFuzzerTestOneInput
 * once over every file named on the command line, or found directly in a folder named there
 * (the corpus), in name order. A failed check aborts, which fails the ctest test. Under
 * EVC_FUZZ the harnesses link libFuzzer's own main instead. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, n = 0, r;
  uint8_t *buf = malloc(cap);
  if (!buf)
    abort();
  while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf)
        abort();
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "driver: %s: read error\n", path);
    free(buf);
    return -1;
  }
  /* An exact-size copy, as libFuzzer passes it, so a read past the end is one. */
  uint8_t *in = malloc(n ? n : 1);
  if (!in)
    abort();
  memcpy(in, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(in, n);
  free(in);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in dir; returns the count run, or -1. */
static int run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof(*names));
      if (!names)
        abort();
    }
    size_t len = strlen(dir) + strlen(de->d_name) + 2;
    names[n] = malloc(len);
    if (!names[n])
      abort();
    snprintf(names[n], len, "%s/%s", dir, de->d_name);
    n++;
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof(*names), by_name);
  int count = 0, rc = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(names[i]) < 0)
        rc = -1;
      else
        count++;
    }
    free(names[i]);
  }
  free(names);
  return rc < 0 ? -1 : count;
}

int main(int argc, char **argv) {
  int total = 0, failed = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) < 0) {
      fprintf(stderr, "driver: %s: %s\n", argv[i], strerror(errno));
      failed = 1;
      continue;
    }
    int n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
    if (n < 0)
      failed = 1;
    else
      total += n;
  }
  printf("%s: %d inputs ran\n", argv[0], total);
  if (total == 0)
    failed = 1; /* an empty corpus tests nothing: say so */
  return failed;
}
