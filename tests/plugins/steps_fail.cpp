// A C++ step that writes rows through the host, then fails: the whole migration must roll back.
#include <fastappkit/plugin.hpp>
#include <stdexcept>

FASTAPPKIT_STEP(fill_then_fail) {
  int n = std::stoi(args.at(0));
  for (int i = 0; i < n; ++i)
    host.execute("INSERT INTO stepfail_items (name) VALUES (?)", {"item " + std::to_string(i)});
  auto rows = host.query("SELECT count(*) FROM stepfail_items");
  throw std::runtime_error("refusing after inserting " + rows.at(0).at(0).value_or("?") + " rows");
}
