/* fastappkit plugin ABI: the plain C boundary between the fastappkit host and an external
 * app's shared library (SPEC section 7).
 *
 * Rules of the boundary: fixed-width integers, strings as pointer + length, opaque handles
 * and function pointers only. No C++ type, exception or allocation crosses it. The host
 * copies every string it is given; the plugin's descriptor and the strings it points to
 * stay valid while the library is loaded.
 *
 * Evolution: structs only ever grow at the end, and a minor version names each growth.
 * `struct_size` says how much of a struct the other side filled in; neither side reads or
 * calls a slot that lies beyond it (FAK_HAS_SLOT). A plugin states the minor it *needs*
 * (FASTAPPKIT_PLUGIN_ABI_MINOR, default 0: nothing beyond 1.0); a host of the same major and
 * an equal or newer minor loads it. So a plugin rebuilt with a newer SDK still loads in an
 * older host, and an older plugin in a newer host.
 *
 *   1.0  the descriptor and host functions execute, query, report_error, dialect
 *   1.1  host function server_version
 */
#ifndef FASTAPPKIT_PLUGIN_ABI_H
#define FASTAPPKIT_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FAK_ABI_MAJOR 1
#define FAK_ABI_MINOR 1
#define FAK_PLUGIN_MAGIC 0x50414b46u /* "FKAP" */

/* The one exported entry symbol. Its name carries the ABI major version, so a library
 * built for another major version is refused before it is ever called. */
#define FAK_ENTRY_SYMBOL "fastappkit_plugin_v1"
#define FAK_ENTRY_NAME fastappkit_plugin_v1

/* Whether a struct the other side filled in (its `struct_size` first) reaches `field`. */
#define FAK_HAS_SLOT(ptr, type, field) \
  ((ptr) != 0 && (uint64_t)(ptr)->struct_size >= (uint64_t)(offsetof(type, field) + sizeof(((type*)0)->field)))

#if defined(_WIN32)
#define FAK_EXPORT __declspec(dllexport)
#else
#define FAK_EXPORT __attribute__((visibility("default")))
#endif

typedef struct fak_string {
  const char* data;
  uint64_t size;
} fak_string;

/* An embedded file: its name (e.g. "versions/3f2a9c1b7d4e_create.toml") and text. */
typedef struct fak_file {
  fak_string name;
  fak_string text;
} fak_file;

/* Opaque: the host's state for one call. Only ever passed back to host functions. */
typedef struct fak_host fak_host;

/* Called once per row by query(); return 0 to go on, non-zero to stop. */
typedef int32_t (*fak_row_fn)(void* user, const fak_string* values, const uint8_t* is_null, uint64_t count);

/* Functions the host hands to the plugin. Every function returns 0 on success; on failure
 * the host keeps the database's message and the step should return non-zero. */
typedef struct fak_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  /* One SQL statement; parameters are bound as text to `?` placeholders, one convention for
   * both backends. SQLite binds them itself. On PostgreSQL the host numbers them $1, $2, ...
   * only when parameters are given, and only outside string literals, quoted identifiers,
   * comments and dollar-quoted bodies; the JSONB operators `?|` and `?&` are left alone and
   * `??` stands for the JSONB operator `?`. With no parameters the text is sent unchanged.
   * The number of placeholders must equal `param_count`. */
  int32_t (*execute)(fak_host* host, fak_string sql, const fak_string* params, uint64_t param_count);
  /* One query; `on_row` sees each row's values as text (`is_null[i]` for SQL NULL). */
  int32_t (*query)(fak_host* host, fak_string sql, const fak_string* params, uint64_t param_count, fak_row_fn on_row,
                   void* user);
  /* The plugin's own message for the failure it is about to return. */
  void (*report_error)(fak_host* host, fak_string message);
  /* "sqlite" or "postgresql". */
  fak_string (*dialect)(fak_host* host);
  /* 1.1: the database server's version ("3.40.1", "15.5"); empty when unknown. The string
   * stays valid until the next call on `host`. */
  fak_string (*server_version)(fak_host* host);
} fak_host_api;

/* A C++ data-migration step, run by a migration's `call` operation inside the migration's
 * transaction. Returns 0 on success. */
typedef int32_t (*fak_step_fn)(const fak_host_api* api, fak_host* host, const fak_string* args, uint64_t arg_count);

typedef struct fak_step {
  fak_string name;
  fak_step_fn run;
} fak_step;

typedef struct fak_plugin_descriptor {
  uint32_t magic;       /* FAK_PLUGIN_MAGIC */
  uint16_t abi_major;   /* FAK_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor;   /* the minor the plugin needs (at most the FAK_ABI_MINOR it was built with) */
  uint32_t struct_size; /* sizeof(fak_plugin_descriptor) in the plugin's build */
  uint32_t reserved;
  fak_string name;
  fak_string version;
  fak_string models; /* models.toml text; empty when the app has none */
  const fak_file* migrations;
  uint64_t migration_count;
  const fak_step* steps;
  uint64_t step_count;
} fak_plugin_descriptor;

/* The entry: returns the plugin's descriptor, or NULL after calling api->report_error. */
typedef const fak_plugin_descriptor* (*fak_entry_fn)(const fak_host_api* api, fak_host* host);

#ifdef __cplusplus
}
#endif

#endif /* FASTAPPKIT_PLUGIN_ABI_H */
