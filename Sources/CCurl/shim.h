#ifndef EDGEMOUNT_CCURL_SHIM_H
#define EDGEMOUNT_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt / curl_easy_getinfo are variadic; Swift needs one typed wrapper per argument type.
static inline CURLcode em_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode em_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode em_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode em_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode em_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*em_data_cb)(char *, size_t, size_t, void *);
static inline CURLcode em_setopt_datacb(CURL *h, CURLoption o, em_data_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode em_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode em_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
// A share object (TLS sessions and DNS answers shared by every easy handle): curl_share_setopt
// is variadic too.
typedef void (*em_lock_cb)(CURL *, curl_lock_data, curl_lock_access, void *);
typedef void (*em_unlock_cb)(CURL *, curl_lock_data, void *);
static inline CURLSHcode em_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return curl_share_setopt(s, o, v); }
static inline CURLSHcode em_share_setopt_ptr(CURLSH *s, CURLSHoption o, void *v) { return curl_share_setopt(s, o, v); }
static inline CURLSHcode em_share_setopt_lock(CURLSH *s, em_lock_cb v) { return curl_share_setopt(s, CURLSHOPT_LOCKFUNC, v); }
static inline CURLSHcode em_share_setopt_unlock(CURLSH *s, em_unlock_cb v) { return curl_share_setopt(s, CURLSHOPT_UNLOCKFUNC, v); }
#endif
