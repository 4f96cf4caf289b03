#pragma once
// The database systems a URL can name. The SQL layer calls the same thing a dialect
// (sql::Dialect, with what differs between them: sql/dialect.hpp).

namespace fastappkit::config {

enum class Backend { sqlite, postgresql };

}  // namespace fastappkit::config
