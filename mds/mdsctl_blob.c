/*
 * mdsctl_blob.c - `mdsctl upload ls|parts|abort` (S3 multipart uploads)
 * and `mdsctl blob blocks|copy-status` over the mds.v1.Blob service
 * (include/mds/v1/blob.proto; semantics in docs/blob-parity.md).
 *
 * What must stay true:
 * - Listings follow the server's pages to the end (uploads, parts, blocks),
 *   so the output is complete; --json prints one document with plain
 *   integers (sizes in bytes, times in nanoseconds).
 * - Locators and block ids are bytes: JSON and tables show them as
 *   printable text when they are, else as hex.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "blob.pb-c.h"
#include "mdsctl.h"
#include "units.h"

#define BL(m) "/mds.v1.Blob/" m

const char mdsctl_upload_help[] =
	"usage: mdsctl upload ls BUCKET[/PREFIX] [--delimiter D]\n"
	"       mdsctl upload parts BUCKET NAME UPLOAD_ID\n"
	"       mdsctl upload abort BUCKET NAME UPLOAD_ID\n"
	"  ls: in-progress S3 multipart uploads in key order (for one key in\n"
	"  initiation order); parts: the parts uploaded so far; abort: drop the\n"
	"  upload and its parts (the gateway reclaims their bytes).\n";

const char mdsctl_blob_help[] =
	"usage: mdsctl blob blocks BUCKET NAME | blob copy-status COPY_ID\n"
	"  blocks: the block map of an object (append blocks, committed block list\n"
	"  or multipart parts) with offsets and locators; copy-status: the state of\n"
	"  a pending copy (PutBlobFromUrl) by its 32-hex-digit id.\n";

/* @b as text if printable ASCII, else as hex, into @buf (caller's, @n bytes). */
static const char *bytes_text(ProtobufCBinaryData b, char *buf, size_t n)
{
	size_t i, printable = 1;

	for (i = 0; i < b.len; i++)
		if (b.data[i] < 0x20 || b.data[i] > 0x7e)
			printable = 0;
	if (printable) {
		snprintf(buf, n, "%.*s", (int)b.len, (const char *)b.data);
		return buf;
	}
	buf[0] = 0;
	for (i = 0; i < b.len && 2 * i + 3 <= n; i++)
		snprintf(buf + 2 * i, 3, "%02x", b.data[i]);
	return buf;
}

static int three_args(const struct ctl *c, const char *what)
{
	if (c->n_args != 4)
		return mdsctl_usage_err("%s takes BUCKET NAME UPLOAD_ID (see mdsctl upload --help)",
					what);
	return 0;
}

/* ---- upload ls ---------------------------------------------------------------- */

static int upload_ls(struct ctl *c)
{
	Mds__V1__ListMultipartUploadsRequest r = MDS__V1__LIST_MULTIPART_UPLOADS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	char bucket[64], key_marker[1025] = "", id_marker[33] = "", tb[32];
	const char *slash;
	json_t *arr = c->json ? json_array() : NULL;
	int rc = 0;

	if (mdsctl_check_opts(c, B(O_DELIM), "upload ls"))
		return EXIT_USAGE;
	if (c->n_args != 2)
		return mdsctl_usage_err("upload ls takes BUCKET[/PREFIX]%s", "");
	slash = strchr(c->args[1], '/');
	snprintf(bucket, sizeof(bucket), "%.*s",
		 (int)(slash ? (size_t)(slash - c->args[1]) : strlen(c->args[1])), c->args[1]);
	r.bucket = bucket;
	r.prefix = slash ? (char *)slash + 1 : (char *)"";
	r.delimiter = c->delim ? (char *)c->delim : (char *)"";
	if (!c->json)
		printf("%-40s %-32s %s\n", "KEY", "UPLOAD-ID", "INITIATED");
	for (;;) {
		ProtobufCMessage *resp = NULL;
		const Mds__V1__ListMultipartUploadsResponse *p;

		r.key_marker = key_marker;
		r.upload_id_marker = id_marker;
		rc = mds_client_call(c->cl, BL("ListMultipartUploads"), &r.base,
				     &mds__v1__list_multipart_uploads_response__descriptor, &resp, &cs);
		if (rc) {
			rc = mdsctl_fail(rc, "cannot list uploads", &cs);
			break;
		}
		p = (const void *)resp;
		for (size_t i = 0; i < p->n_uploads; i++) {
			const Mds__V1__Upload *u = p->uploads[i];

			if (arr && u->is_prefix)
				json_array_append_new(arr, json_pack("{s:s, s:b}", "prefix", u->name,
								     "is_prefix", 1));
			else if (arr)
				json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "key", u->name,
								     "upload_id", u->upload_id,
								     "initiated_ns",
								     (json_int_t)u->initiated_ns));
			else if (u->is_prefix)
				printf("%-40s %-32s %s\n", u->name, "PRE", "-");
			else
				printf("%-40s %-32s %s\n", u->name, u->upload_id,
				       mdsctl_fmt_time(u->initiated_ns, tb, sizeof(tb)));
		}
		int more = p->truncated && *p->next_key_marker;

		snprintf(key_marker, sizeof(key_marker), "%s", p->next_key_marker);
		snprintf(id_marker, sizeof(id_marker), "%s", p->next_upload_id_marker);
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!more)
			break;
	}
	if (arr) {
		if (rc == 0)
			mdsctl_print_json(json_pack("{s:s, s:o}", "bucket", bucket, "uploads", arr));
		else
			json_decref(arr);
	}
	return rc;
}

/* ---- upload parts / abort ------------------------------------------------------ */

static int upload_parts(struct ctl *c)
{
	Mds__V1__ListPartsRequest r = MDS__V1__LIST_PARTS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	json_t *arr = c->json ? json_array() : NULL;
	uint64_t total = 0;
	char sz[32], loc[2100];
	int rc = 0;

	if (mdsctl_check_opts(c, 0, "upload parts") || three_args(c, "upload parts")) {
		json_decref(arr);
		return EXIT_USAGE;
	}
	r.bucket = c->args[1];
	r.name = c->args[2];
	r.upload_id = c->args[3];
	if (!c->json)
		printf("%6s %12s %-36s %s\n", "PART", "SIZE", "ETAG", "LOCATOR");
	for (;;) {
		ProtobufCMessage *resp = NULL;
		const Mds__V1__ListPartsResponse *p;

		rc = mds_client_call(c->cl, BL("ListParts"), &r.base,
				     &mds__v1__list_parts_response__descriptor, &resp, &cs);
		if (rc) {
			rc = mdsctl_fail(rc, "cannot list parts", &cs);
			break;
		}
		p = (const void *)resp;
		for (size_t i = 0; i < p->n_parts; i++) {
			const Mds__V1__Part *pt = p->parts[i];

			total += pt->size;
			bytes_text(pt->locator, loc, sizeof(loc));
			if (arr)
				json_array_append_new(arr, json_pack("{s:i, s:I, s:s, s:I, s:s}",
								     "part_number", (int)pt->part_number,
								     "size", (json_int_t)pt->size,
								     "etag", pt->etag, "mtime_ns",
								     (json_int_t)pt->mtime_ns,
								     "locator", loc));
			else
				printf("%6u %12s %-36s %s\n", pt->part_number,
				       mds_units_format_size(pt->size, sz, sizeof(sz)), pt->etag, loc);
		}
		int more = p->truncated;

		r.part_number_marker = p->next_part_number_marker;
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!more)
			break;
	}
	if (arr) {
		if (rc == 0)
			mdsctl_print_json(json_pack("{s:s, s:s, s:s, s:I, s:o}", "bucket", r.bucket,
						    "name", r.name, "upload_id", r.upload_id,
						    "bytes", (json_int_t)total, "parts", arr));
		else
			json_decref(arr);
	} else if (rc == 0) {
		printf("total %s\n", mds_units_format_size(total, sz, sizeof(sz)));
	}
	return rc;
}

static int upload_abort(struct ctl *c)
{
	Mds__V1__AbortMultipartUploadRequest r = MDS__V1__ABORT_MULTIPART_UPLOAD_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, 0, "upload abort") || three_args(c, "upload abort"))
		return EXIT_USAGE;
	r.bucket = c->args[1];
	r.name = c->args[2];
	r.upload_id = c->args[3];
	rc = mds_client_call(c->cl, BL("AbortMultipartUpload"), &r.base,
			     &mds__v1__abort_multipart_upload_response__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot abort upload", &cs);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:s, s:s, s:b}", "bucket", r.bucket, "name", r.name,
					    "upload_id", r.upload_id, "aborted", 1));
	else
		printf("aborted upload %s of %s/%s\n", r.upload_id, r.bucket, r.name);
	return 0;
}

int mdsctl_cmd_upload(struct ctl *c)
{
	const char *sub = c->n_args ? c->args[0] : "";

	if (!strcmp(sub, "ls"))
		return upload_ls(c);
	if (!strcmp(sub, "parts"))
		return upload_parts(c);
	if (!strcmp(sub, "abort"))
		return upload_abort(c);
	return mdsctl_usage_err("unknown upload subcommand '%s' (ls, parts, abort)", sub);
}

/* ---- blob blocks / copy-status ------------------------------------------------------ */

static int blob_blocks(struct ctl *c)
{
	Mds__V1__GetBlobBlocksRequest r = MDS__V1__GET_BLOB_BLOCKS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	json_t *arr = NULL;
	char sz[32], id[140], loc[2100];
	int rc = 0;

	if (mdsctl_check_opts(c, 0, "blob blocks"))
		return EXIT_USAGE;
	if (c->n_args != 3)
		return mdsctl_usage_err("blob blocks takes BUCKET NAME%s", "");
	r.bucket = c->args[1];
	r.name = c->args[2];
	if (c->json)
		arr = json_array();
	else
		printf("%7s %14s %12s %-24s %s\n", "INDEX", "OFFSET", "SIZE", "ID", "LOCATOR");
	for (;;) {
		ProtobufCMessage *resp = NULL;
		const Mds__V1__GetBlobBlocksResponse *p;

		rc = mds_client_call(c->cl, BL("GetBlobBlocks"), &r.base,
				     &mds__v1__get_blob_blocks_response__descriptor, &resp, &cs);
		if (rc) {
			rc = mdsctl_fail(rc, "cannot read blocks", &cs);
			break;
		}
		p = (const void *)resp;
		for (size_t i = 0; i < p->n_blocks; i++) {
			const Mds__V1__Block *b = p->blocks[i];

			bytes_text(b->block_id, id, sizeof(id));
			bytes_text(b->locator, loc, sizeof(loc));
			if (arr)
				json_array_append_new(arr, json_pack("{s:I, s:I, s:I, s:s, s:s}",
								     "index", (json_int_t)b->index,
								     "offset", (json_int_t)b->offset,
								     "size", (json_int_t)b->size,
								     "id", id, "locator", loc));
			else
				printf("%7u %14llu %12s %-24s %s\n", b->index,
				       (unsigned long long)b->offset,
				       mds_units_format_size(b->size, sz, sizeof(sz)), id, loc);
			r.start = b->index + 1;
		}
		int more = p->truncated && p->n_blocks;

		protobuf_c_message_free_unpacked(resp, NULL);
		if (!more)
			break;
	}
	if (arr) {
		if (rc == 0)
			mdsctl_print_json(json_pack("{s:s, s:s, s:o}", "bucket", r.bucket, "name",
						    r.name, "blocks", arr));
		else
			json_decref(arr);
	}
	return rc;
}

static const char *copy_status_name(Mds__V1__CopyStatusKind k)
{
	switch (k) {
	case MDS__V1__COPY_STATUS_KIND__COPY_STATUS_PENDING: return "pending";
	case MDS__V1__COPY_STATUS_KIND__COPY_STATUS_SUCCESS: return "success";
	case MDS__V1__COPY_STATUS_KIND__COPY_STATUS_FAILED: return "failed";
	case MDS__V1__COPY_STATUS_KIND__COPY_STATUS_ABORTED: return "aborted";
	default: return "none";
	}
}

static int blob_copy_status(struct ctl *c)
{
	Mds__V1__GetCopyStatusRequest r = MDS__V1__GET_COPY_STATUS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const Mds__V1__CopyStatus *s;
	int rc;

	if (mdsctl_check_opts(c, 0, "blob copy-status"))
		return EXIT_USAGE;
	if (c->n_args != 2)
		return mdsctl_usage_err("blob copy-status takes COPY_ID%s", "");
	r.copy_id = c->args[1];
	rc = mds_client_call(c->cl, BL("GetCopyStatus"), &r.base, &mds__v1__copy_status__descriptor,
			     &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot get copy status", &cs);
	s = (const void *)resp;
	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
					    "copy_id", s->copy_id, "status",
					    copy_status_name(s->status), "bucket", s->bucket,
					    "name", s->name, "source", s->source, "bytes_copied",
					    (json_int_t)s->bytes_copied, "bytes_total",
					    (json_int_t)s->bytes_total, "completion_ns",
					    (json_int_t)s->completion_ns, "failure", s->failure));
	else
		printf("copy:          %s\nstatus:        %s\ndestination:   %s/%s\n"
		       "source:        %s\nprogress:      %llu/%llu\n", s->copy_id,
		       copy_status_name(s->status), s->bucket, s->name, s->source,
		       (unsigned long long)s->bytes_copied, (unsigned long long)s->bytes_total);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

int mdsctl_cmd_blob(struct ctl *c)
{
	const char *sub = c->n_args ? c->args[0] : "";

	if (!strcmp(sub, "blocks"))
		return blob_blocks(c);
	if (!strcmp(sub, "copy-status"))
		return blob_copy_status(c);
	return mdsctl_usage_err("unknown blob subcommand '%s' (blocks, copy-status)", sub);
}
