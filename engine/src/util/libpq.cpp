// libpq opened on first use (libpq.hpp).
#include "libpq.hpp"

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "fastappkit/error.hpp"

namespace fastappkit::util {

const Libpq& libpq() {
  static const Libpq lib = [] {
    Libpq l;
    void* handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      throw Error(ErrorKind::database,
                  std::string("cannot load the PostgreSQL client library libpq.so.5: ") + (why ? why : "unknown error"),
                  "install it (apt-get install libpq5), then run the command again");
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
      if (!fn)
        throw Error(ErrorKind::database, std::string("libpq.so.5 has no function ") + name,
                    "install PostgreSQL 15's libpq5, then run the command again");
    };
    load(l.PQclear, "PQclear");
    load(l.PQconndefaults, "PQconndefaults");
    load(l.PQconnectdb, "PQconnectdb");
    load(l.PQconninfoFree, "PQconninfoFree");
    load(l.PQconninfoParse, "PQconninfoParse");
    load(l.PQerrorMessage, "PQerrorMessage");
    load(l.PQexec, "PQexec");
    load(l.PQexecParams, "PQexecParams");
    load(l.PQfinish, "PQfinish");
    load(l.PQfreemem, "PQfreemem");
    load(l.PQgetResult, "PQgetResult");
    load(l.PQgetisnull, "PQgetisnull");
    load(l.PQgetlength, "PQgetlength");
    load(l.PQgetvalue, "PQgetvalue");
    load(l.PQnfields, "PQnfields");
    load(l.PQntuples, "PQntuples");
    load(l.PQresultErrorField, "PQresultErrorField");
    load(l.PQresultErrorMessage, "PQresultErrorMessage");
    load(l.PQresultStatus, "PQresultStatus");
    load(l.PQsendQuery, "PQsendQuery");
    load(l.PQsetNoticeProcessor, "PQsetNoticeProcessor");
    load(l.PQstatus, "PQstatus");
    load(l.PQtransactionStatus, "PQtransactionStatus");
    load(l.PQcancel, "PQcancel");
    load(l.PQsocket, "PQsocket");
    load(l.PQconsumeInput, "PQconsumeInput");
    load(l.PQgetCancel, "PQgetCancel");
    load(l.PQfreeCancel, "PQfreeCancel");
    return l;  // the library stays open for the life of the process
  }();
  return lib;
}

}  // namespace fastappkit::util
