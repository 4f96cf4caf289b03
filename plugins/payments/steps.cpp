// payments' C++ data-migration steps.
#include <fastappkit/plugin.hpp>
#include <stdexcept>

// Inserts currencies given as "CODE:Name:minor_units"; skips codes already present, so the
// step is safe on a database that has some of them.
FASTAPPKIT_STEP(seed_currencies) {
  for (const auto& spec : args) {
    auto a = spec.find(':'), b = spec.rfind(':');
    if (a == std::string::npos || a == b)
      throw std::invalid_argument("seed_currencies: expected CODE:Name:minor_units, got '" + spec + "'");
    std::string code = spec.substr(0, a), name = spec.substr(a + 1, b - a - 1), units = spec.substr(b + 1);
    if (!host.query("SELECT 1 FROM payments_currencies WHERE code = ?", {code}).empty()) continue;
    host.execute("INSERT INTO payments_currencies (code, name, minor_units) VALUES (?, ?, ?)", {code, name, units});
  }
}
