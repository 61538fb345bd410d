/*
 * tls.c - the self-signed certificate of a fresh install (see conn.h).
 *
 * An ECDSA P-256 key and a certificate for the host name, valid ten
 * years, written once into DATA_DIR/tls/ (key mode 0600) and reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "error.h"
#include "log.h"

#define TLS_DAYS	3650

/*
 * Writes a PEM file under a temporary name and renames it into place, so
 * that a daemon that finds both files (tls_selfsigned()'s check without
 * the lock) never reads one half written.  We may be root in a data_dir
 * of the daemons' user: the temporary file is made anew (O_EXCL,
 * O_NOFOLLOW), never opened through a link planted there.
 */
static int
tls_write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	char tmp[4200];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (unlink(tmp) == -1 && errno != ENOENT)
		return err_set(ERR_TEMP, "cannot remove %s: %s", tmp,
		    strerror(errno));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    key != NULL ? 0600 : 0644);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return err_set(ERR_TEMP, "cannot write %s: %s", tmp,
		    strerror(errno));
	}
	ok = key != NULL ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0 || !ok) {
		unlink(tmp);
		return err_set(ERR_TEMP, "cannot write %s", tmp);
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return err_set(ERR_TEMP, "cannot rename %s to %s: %s", tmp,
		    path, strerror(errno));
	}
	return 0;
}

static int
tls_make(const char *hostname, const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[300];
	int rc = -1;

	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
	    RAND_bytes(serial, sizeof(serial)) != 1) {
		err_set(ERR_TEMP, "cannot make a TLS key");
		goto out;
	}
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_set_version(x, 2);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * TLS_DAYS);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, key, EVP_sha256()) == 0) {
		err_set(ERR_TEMP, "cannot sign the TLS certificate");
		goto out;
	}
	if (tls_write_pem(key_path, key, NULL) == -1 ||
	    tls_write_pem(cert_path, NULL, x) == -1)
		goto out;
	log_info("made a self-signed TLS certificate for %s in %s",
	    hostname, cert_path);
	rc = 0;
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

int
tls_selfsigned(const char *data_dir, const char *hostname, char *cert_r,
    char *key_r, size_t size)
{
	char dir[4096], lock[4200];
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s/tls", data_dir);
	snprintf(cert_r, size, "%s/cert.pem", dir);
	snprintf(key_r, size, "%s/key.pem", dir);
	if (access(cert_r, R_OK) == 0 && access(key_r, R_OK) == 0)
		return 0;
	if ((mkdir(data_dir, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(dir, 0700) == -1 && errno != EEXIST))
		return err_set(ERR_TEMP, "cannot create %s: %s", dir,
		    strerror(errno));
	/*
	 * vellumd starts every daemon at once and each may get here first:
	 * one makes the pair under a lock, the others wait and use it.
	 */
	snprintf(lock, sizeof(lock), "%s/.lock", dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1 ||
	    flock(fd, LOCK_EX) == -1) {
		if (fd != -1)
			close(fd);
		return err_set(ERR_TEMP, "cannot lock %s: %s", lock,
		    strerror(errno));
	}
	rc = 0;
	if (access(cert_r, R_OK) != 0 || access(key_r, R_OK) != 0)
		rc = tls_make(hostname, cert_r, key_r);
	close(fd);
	return rc;
}
