/*
 * config.h - the settings of `mds serve`, from the embedded default, a
 * JSON config file (--config) and command-line flags, in that order of
 * precedence (flags win). Every setting has one name, used both as the
 * long flag (--tls-cert) and as the JSON key ("tls-cert").
 */
#ifndef MDS_CONFIG_H
#define MDS_CONFIG_H

#include <stdint.h>

#include "mds/error.h"

#define MDS_CONFIG_PEER_KEYS 8
#define MDS_CONFIG_PEERS_MAX 64

/* One federation peer (docs/operations.md "Peers"); strings owned. */
struct mds_config_peer {
	char *origin;          /* the peer's feed origin */
	char *address;         /* HOST:PORT */
	char *keys[MDS_CONFIG_PEER_KEYS]; /* C2SP verifier keys (`mds keys show`) */
	size_t n_keys;
	char *tls_ca, *tls_cert, *tls_key;
	char *token_file;      /* bearer token sent to the peer (its jwt/local auth); NULL = none */
	int insecure;          /* plaintext */
};

/*
 * Authentication modes (docs/security.md):
 *   DEV    no authentication, every caller is an admin; only when asked for
 *          (--auth-mode dev / --dev), loopback only unless --insecure
 *   JWT    bearer tokens from the configured provider (--jwt-issuer ...)
 *   LOCAL  the embedded default: bearer tokens from a local issuer whose
 *          key lives under DATA, with an admin token in DATA/admin.token
 */
enum mds_config_auth_mode {
	MDS_CONFIG_AUTH_DEV = 0,
	MDS_CONFIG_AUTH_JWT = 1,
	MDS_CONFIG_AUTH_LOCAL = 2,
};

struct mds_config {
	char *data;            /* store directory; default ./var/mds */
	char *listen;          /* gRPC HOST:PORT; default 127.0.0.1:7420 */
	char *http;            /* HTTP HOST:PORT; default 127.0.0.1:7421; "off" disables */
	char *tls_ca;          /* PEM CA bundle for client certificates */
	char *tls_cert;        /* PEM server certificate chain */
	char *tls_key;         /* PEM server private key (never logged) */
	char *port_file;       /* write {"grpc":P,"http":P} here once listening */
	int tls_client_auth;   /* require client certificates (mTLS) */
	int insecure;          /* allow plaintext on a non-loopback address */
	unsigned threads;      /* gRPC worker threads; default 2 */
	uint64_t map_size;     /* LMDB map bytes; 0 = store default */
	uint64_t max_message;  /* largest request in bytes; default 4 MiB */
	unsigned grace_ms;     /* shutdown grace for in-flight calls; default 5000 */
	unsigned batch_window_us; /* writer waits this long to grow a small batch; default 0 */
	int log_level;         /* enum mds_log_level */
	/* governance (docs/security.md) */
	int auth_mode;         /* enum mds_config_auth_mode as given; read it through
				* mds_config_auth_mode() */
	int auth_mode_given;   /* --auth-mode (or --dev) was set */
	char *jwt_issuers;     /* comma-separated trusted `iss` values */
	char *jwt_audience;    /* required `aud` */
	char *jwks_file;       /* the identity provider's key set (JWKS) */
	char *jwks_url;        /* or fetched from this https:// URL (not both) */
	char *jwks_ca_file;    /* PEM CA bundle for jwks_url; default: system store */
	char *auth_state_file; /* last good key set persisted here; default DATA/jwks.state */
	uint64_t offline_window_ns; /* key set stays usable this long offline; 0 = 96 h */
	uint64_t jwks_refresh_ns;   /* re-read the key set this often; 0 = default:
				     * 60 s for jwks_file, 1 h for jwks_url */
	char *gateways;        /* comma-separated mTLS identities with the gateway role */
	char *rate_limits;     /* "TEAM:read=R/B,write=R/B,list=R/B;*:..." */
	unsigned token_cache;  /* bearer-token validations remembered (0 = none); default 4096 */
	unsigned refusal_hold_ms; /* answer a rate-limit refusal after at least this
				   * long (0 = at once); default 20 */
	char *admins;          /* comma-separated principals with admin on the island
				* (bootstrap; not stored in the policy database) */
	char *feed_origin;     /* change feed origin; NULL = the key's name, else "mds"; "off" disables */
	unsigned feed_cadence_ms;   /* at most one checkpoint per this; default 100 */
	unsigned feed_heartbeat_ms; /* re-sign an idle head after this; default 10000 */
	/* federation: peers followed into the global view */
	struct mds_config_peer *peers; /* "peers" list (file) and --peer (flag) */
	size_t n_peers;
	unsigned peer_stale_ms;  /* no verified checkpoint this long: stale; default 30000 */
	unsigned peer_idle_ms;   /* no message on a stream this long: reconnect; default 30000 */
	unsigned peer_backoff_max_ms; /* longest reconnect delay; default 10000 */
	char *peer_token_file;   /* token for peers without their own token-file */
	unsigned peer_batch_max; /* 0 = one transaction per checkpoint; N = slices of N leaves */
	uint64_t feed_retain_ns;    /* keep leaves younger than this; default 7 days */
	uint64_t feed_retain_leaves; /* and at least this many newest leaves; default 1,000,000 */
	uint64_t feed_compact_every_ns; /* compaction pass period; default 1 min */
	int explicit;          /* any setting came from a flag or file */
};

/* mds_config_init - the embedded default (strings owned by @c). */
int mds_config_init(struct mds_config *c);

/* mds_config_release - free the strings. */
void mds_config_release(struct mds_config *c);

/*
 * mds_config_set - set @key (e.g. "tls-cert") to @value (borrowed; copied).
 * Booleans take "true"/"false"/"1"/"0" (NULL = true, for bare flags).
 * Returns 0 or MDS_EINVAL with a message naming the key.
 */
int mds_config_set(struct mds_config *c, const char *key, const char *value,
		   struct mds_status *st);

/*
 * mds_config_load_file - apply a JSON object of settings from @path.
 * Unknown keys are an error (a typo must not silently fall back to a
 * default). Returns 0 or MDS_EINVAL with the file, line and key.
 */
int mds_config_load_file(struct mds_config *c, const char *path, struct mds_status *st);

/*
 * mds_config_auth_mode - the mode in effect: the one given, else JWT when
 * any provider setting (--jwt-issuer, --jwt-audience, --jwks-file,
 * --jwks-url) is present, else LOCAL. Never DEV unless it was asked for.
 */
enum mds_config_auth_mode mds_config_auth_mode(const struct mds_config *c);

/*
 * mds_config_check - cross-field rules: TLS needs cert and key, mTLS needs
 * a CA, a non-loopback gRPC address needs TLS or `insecure`, dev mode
 * needs loopback (or `insecure`), jwt mode needs its provider settings,
 * local mode takes none of them.
 */
int mds_config_check(const struct mds_config *c, struct mds_status *st);

#endif /* MDS_CONFIG_H */
