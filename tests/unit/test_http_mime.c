/* Unit tests for http_mime_type: every built-in extension is found (which also proves the
 * table is sorted for the binary search), text types carry the charset, case and dot-file
 * rules, and config overrides winning over the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "http_mime.h"

#define OCTET "application/octet-stream"

static const char *type_of(const char *path) {
  return http_mime_type(NULL, 0, path, strlen(path));
}

static const struct {
  const char *ext, *type;
} expected[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "application/javascript; charset=utf-8"},
    {"mjs", "application/javascript; charset=utf-8"},
    {"cjs", "application/javascript; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml; charset=utf-8"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"ics", "text/calendar; charset=utf-8"},
    {"xhtml", "application/xhtml+xml; charset=utf-8"},
    {"atom", "application/atom+xml; charset=utf-8"},
    {"rss", "application/rss+xml; charset=utf-8"},
    {"jsonld", "application/ld+json; charset=utf-8"},
    {"webmanifest", "application/manifest+json; charset=utf-8"},
    {"yaml", "application/yaml; charset=utf-8"},
    {"yml", "application/yaml; charset=utf-8"},
    {"toml", "application/toml; charset=utf-8"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"apng", "image/apng"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"eot", "application/vnd.ms-fontobject"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"rtf", "application/rtf"},
    {"epub", "application/epub+zip"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"bz2", "application/x-bzip2"},
    {"xz", "application/x-xz"},
    {"zst", "application/zstd"},
    {"7z", "application/x-7z-compressed"},
    {"bin", OCTET},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mov", "video/quicktime"},
    {"mkv", "video/x-matroska"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"opus", "audio/opus"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"flac", "audio/flac"},
    {"aac", "audio/aac"},
    {"m4a", "audio/mp4"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
};

#define N_EXPECTED (sizeof expected / sizeof expected[0])

static void test_table(void **state) {
  char path[64];
  size_t i;

  (void)state;
  for (i = 0; i < N_EXPECTED; i++) {
    strcpy(path, "/dir/file.");
    strcat(path, expected[i].ext);
    if (strcmp(type_of(path), expected[i].type) != 0)
      fail_msg("%s: %s, want %s", path, type_of(path), expected[i].type);
  }
}

/* text/ types, JavaScript, JSON, SVG and XML carry the charset; nothing else does. */
static void test_charset_rule(void **state) {
  char path[64];
  const char *t;
  size_t i;
  int text;

  (void)state;
  for (i = 0; i < N_EXPECTED; i++) {
    strcpy(path, "/f.");
    strcat(path, expected[i].ext);
    t = type_of(path);
    text = strncmp(t, "text/", 5) == 0 || strstr(t, "javascript") || strstr(t, "json") ||
           strstr(t, "xml") || strstr(t, "yaml") || strstr(t, "toml");
    if (text != (strstr(t, "; charset=utf-8") != NULL))
      fail_msg("%s: %s", path, t);
  }
}

static void test_case(void **state) {
  (void)state;
  assert_string_equal(type_of("/INDEX.HTML"), "text/html; charset=utf-8");
  assert_string_equal(type_of("/a.Png"), "image/png");
  assert_string_equal(type_of("/a.JPEG"), "image/jpeg");
  assert_string_equal(type_of("/a.WOFF2"), "font/woff2");
  assert_string_equal(type_of("/a.WebManifest"), "application/manifest+json; charset=utf-8");
}

static void test_last_extension(void **state) {
  (void)state;
  assert_string_equal(type_of("/a.tar.gz"), "application/gzip");
  assert_string_equal(type_of("/app.min.js"), "application/javascript; charset=utf-8");
  assert_string_equal(type_of("/a.html.bak"), OCTET);
  assert_string_equal(type_of("/a.png.exe"), OCTET);
  assert_string_equal(type_of("/x.d/file"), OCTET); /* a dot in a folder name is no extension */
  assert_string_equal(type_of("/x.html/"), OCTET);
  assert_string_equal(type_of("/a..png"), "image/png");
  assert_string_equal(type_of("/.well-known/a.json"), "application/json; charset=utf-8");
}

static void test_no_extension(void **state) {
  (void)state;
  assert_string_equal(type_of(""), OCTET);
  assert_string_equal(type_of("/"), OCTET);
  assert_string_equal(type_of("/README"), OCTET);
  assert_string_equal(type_of("/file."), OCTET);
  assert_string_equal(type_of("."), OCTET);
  assert_string_equal(type_of("/."), OCTET);
  assert_string_equal(type_of("/.."), OCTET);
  assert_string_equal(type_of("/a/.bashrc"), OCTET);
  assert_string_equal(type_of(".bashrc"), OCTET);
  assert_string_equal(type_of("/.html"), OCTET); /* a dot-file named ".html" */
  assert_string_equal(type_of("/.hidden.html"), "text/html; charset=utf-8");
  assert_string_equal(type_of("/a.unknownext"), OCTET);
  assert_string_equal(type_of("/a.verylongextensionthatisnotinthetable"), OCTET);
  assert_string_equal(type_of("/a.htm1"), OCTET);
  assert_string_equal(type_of("/a.h"), OCTET);
  assert_string_equal(type_of("/a.zzzzz"), OCTET); /* past the last table entry */
  assert_string_equal(type_of("/a.0"), OCTET);     /* before the first */
  assert_null(strchr(http_mime_type(NULL, 0, NULL, 0), ';'));
}

static void test_length_bound(void **state) {
  const char p[] = "/a.html.png";
  const char nul[] = "/a.png\0.sh";

  (void)state;
  assert_string_equal(http_mime_type(NULL, 0, p, 7), "text/html; charset=utf-8");
  assert_string_equal(http_mime_type(NULL, 0, p, 6), "text/html; charset=utf-8");
  assert_string_equal(http_mime_type(NULL, 0, p, 5), OCTET);
  assert_string_equal(http_mime_type(NULL, 0, p, sizeof p - 1), "image/png");
  assert_string_equal(http_mime_type(NULL, 0, nul, sizeof nul - 1), OCTET);
  assert_string_equal(http_mime_type(NULL, 0, "/a.pn\0g", 7), OCTET);
}

static void test_overrides(void **state) {
  conf_mime_t ov[] = {
      {"md", "text/x-markdown"},
      {"html", "text/html; charset=iso-8859-1"},
      {"foo", "application/x-foo"},
      {"superlongextension", "application/x-long"},
  };
  size_t n = sizeof ov / sizeof ov[0];

  (void)state;
  assert_string_equal(http_mime_type(ov, n, "/a.md", 5), "text/x-markdown");
  assert_string_equal(http_mime_type(ov, n, "/a.MD", 5), "text/x-markdown");
  assert_string_equal(http_mime_type(ov, n, "/a.html", 7), "text/html; charset=iso-8859-1");
  assert_string_equal(http_mime_type(ov, n, "/a.foo", 6), "application/x-foo");
  assert_string_equal(http_mime_type(ov, n, "/a.FOO", 6), "application/x-foo");
  assert_string_equal(http_mime_type(ov, n, "/a.superlongextension", 21), "application/x-long");
  /* an override never matches a prefix or an extension of its ext */
  assert_string_equal(http_mime_type(ov, n, "/a.fo", 5), OCTET);
  assert_string_equal(http_mime_type(ov, n, "/a.fooo", 7), OCTET);
  assert_string_equal(http_mime_type(ov, n, "/a.htm", 6), "text/html; charset=utf-8");
  /* the table still answers the rest */
  assert_string_equal(http_mime_type(ov, n, "/a.png", 6), "image/png");
  assert_string_equal(http_mime_type(ov, n, "/.md", 4), OCTET);
  /* the pointer is the conf's */
  assert_ptr_equal(http_mime_type(ov, n, "/a.foo", 6), ov[2].type);
  assert_ptr_equal(http_mime_type(ov, 0, "/a.foo", 6), http_mime_type(NULL, 0, "/b", 2));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),        cmocka_unit_test(test_charset_rule),
      cmocka_unit_test(test_case),         cmocka_unit_test(test_last_extension),
      cmocka_unit_test(test_no_extension), cmocka_unit_test(test_length_bound),
      cmocka_unit_test(test_overrides),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
