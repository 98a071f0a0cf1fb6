/* Content-Type by extension, on the worker's loop thread for every response: a binary
 * search over a const table sorted by extension, no allocation. Text types carry their
 * charset here, in the table, so the hot path never concatenates. Config overrides are few
 * and checked first with a linear scan. */
#include "http_mime.h"

#include <string.h>
#include <strings.h>

#define OCTET "application/octet-stream"
#define UTF8 "; charset=utf-8"

struct mime_entry {
  const char *ext; /* lower case, no dot */
  const char *type;
};

/* Sorted by ext (strcmp order): the binary search depends on it, and the unit test checks
 * every entry is found. */
static const struct mime_entry mime_table[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml" UTF8},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", OCTET},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"cjs", "application/javascript" UTF8},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar" UTF8},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "application/javascript" UTF8},
    {"json", "application/json" UTF8},
    {"jsonld", "application/ld+json" UTF8},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"map", "application/json" UTF8},
    {"md", "text/markdown" UTF8},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "application/javascript" UTF8},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpd", "application/dash+xml"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rss", "application/rss+xml" UTF8},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml" UTF8},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml" UTF8},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"vtt", "text/vtt" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json" UTF8},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml" UTF8},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml" UTF8},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml" UTF8},
    {"yml", "application/yaml" UTF8},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

#define MIME_N (sizeof mime_table / sizeof mime_table[0])

const char *http_mime_type(const conf_mime_t *overrides, size_t n_overrides, const char *path,
                           size_t len) {
  const char *type = OCTET, *ext = NULL, *e;
  char low[16];
  size_t extlen = 0, i, lo, hi, mid;
  int cmp;

  if (path == NULL)
    goto done;
  /* The last extension of the last segment; a leading dot names a hidden file (".bashrc"),
   * not an extension. */
  for (e = path + len; e > path && e[-1] != '/'; e--) {
    if (e[-1] == '.') {
      if (e - 1 > path && e[-2] != '/') {
        ext = e;
        extlen = (size_t)(path + len - e);
      }
      break;
    }
  }
  if (ext == NULL || extlen == 0)
    goto done;
  for (i = 0; i < n_overrides; i++) {
    if (strlen(overrides[i].ext) == extlen && strncasecmp(overrides[i].ext, ext, extlen) == 0) {
      type = overrides[i].type;
      goto done;
    }
  }
  if (extlen >= sizeof low)
    goto done;
  for (i = 0; i < extlen; i++) {
    if (ext[i] == '\0')
      goto done; /* "x.png\0.sh" must not pass as "png" */
    low[i] = (char)(ext[i] >= 'A' && ext[i] <= 'Z' ? ext[i] - 'A' + 'a' : ext[i]);
  }
  low[extlen] = '\0';
  lo = 0;
  hi = MIME_N;
  while (lo < hi) {
    mid = lo + (hi - lo) / 2;
    cmp = strcmp(low, mime_table[mid].ext);
    if (cmp == 0) {
      type = mime_table[mid].type;
      break;
    }
    if (cmp < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
done:
  return type;
}
