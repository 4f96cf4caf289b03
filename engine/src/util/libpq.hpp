#pragma once
// libpq is opened with dlopen on first use, not at process start: linked, it and the Kerberos,
// LDAP and TLS libraries it pulls in cost every command about 13 ms before main (measured on the
// reference machine: a C program that only links libpq starts in 16 ms, one that links nothing
// in 3 ms; docs/perf-start.md), which a command on SQLite would pay for nothing. It is still the
// system's shared libpq.so.5 (the package depends on libpq5). Internal to the engine: the
// config module parses PostgreSQL URLs with it, the db module connects with it.
#include <libpq-fe.h>

namespace fastappkit::util {

struct Libpq {
  decltype(&::PQcancel) PQcancel = nullptr;
  decltype(&::PQclear) PQclear = nullptr;
  decltype(&::PQconndefaults) PQconndefaults = nullptr;
  decltype(&::PQconsumeInput) PQconsumeInput = nullptr;
  decltype(&::PQconnectdb) PQconnectdb = nullptr;
  decltype(&::PQconninfoFree) PQconninfoFree = nullptr;
  decltype(&::PQconninfoParse) PQconninfoParse = nullptr;
  decltype(&::PQerrorMessage) PQerrorMessage = nullptr;
  decltype(&::PQexec) PQexec = nullptr;
  decltype(&::PQexecParams) PQexecParams = nullptr;
  decltype(&::PQfinish) PQfinish = nullptr;
  decltype(&::PQfreeCancel) PQfreeCancel = nullptr;
  decltype(&::PQfreemem) PQfreemem = nullptr;
  decltype(&::PQgetCancel) PQgetCancel = nullptr;
  decltype(&::PQgetResult) PQgetResult = nullptr;
  decltype(&::PQgetisnull) PQgetisnull = nullptr;
  decltype(&::PQgetlength) PQgetlength = nullptr;
  decltype(&::PQgetvalue) PQgetvalue = nullptr;
  decltype(&::PQnfields) PQnfields = nullptr;
  decltype(&::PQntuples) PQntuples = nullptr;
  decltype(&::PQresultErrorField) PQresultErrorField = nullptr;
  decltype(&::PQresultErrorMessage) PQresultErrorMessage = nullptr;
  decltype(&::PQresultStatus) PQresultStatus = nullptr;
  decltype(&::PQsendQuery) PQsendQuery = nullptr;
  decltype(&::PQsetNoticeProcessor) PQsetNoticeProcessor = nullptr;
  decltype(&::PQsocket) PQsocket = nullptr;
  decltype(&::PQstatus) PQstatus = nullptr;
  decltype(&::PQtransactionStatus) PQtransactionStatus = nullptr;
};

// The functions of libpq.so.5, opened once (a function-local static: thread-safe, and an
// opening that failed is tried again by the next call); throws Error(database) naming what to
// install when the library or one of its functions is missing.
const Libpq& libpq();

}  // namespace fastappkit::util
