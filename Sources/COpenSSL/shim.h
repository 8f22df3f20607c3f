#ifndef EDGEMOUNT_COPENSSL_SHIM_H
#define EDGEMOUNT_COPENSSL_SHIM_H
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/pkcs7.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rand.h>

// The certificates of a signed PKCS#7 bundle (p7->d.sign->cert), and the stack macros Swift
// cannot import.
static inline STACK_OF(X509) *em_pkcs7_certificates(PKCS7 *p7) {
  if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL) return NULL;
  return p7->d.sign->cert;
}
static inline int em_x509_stack_count(STACK_OF(X509) *stack) { return stack ? sk_X509_num(stack) : 0; }
static inline X509 *em_x509_stack_item(STACK_OF(X509) *stack, int i) { return sk_X509_value(stack, i); }
#endif
