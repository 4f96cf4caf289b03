#pragma once
// Steps rendered once per plan: a fleet run renders each distinct plan (same target, dialect,
// starting rows and steps) once, however many databases need it (SPEC §10).
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fastappkit/migration/graph.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/sql/dialect.hpp"

namespace fastappkit::project {

struct Target;

// Rendered steps shared by every database of a run: a plan from the same version rows on the
// same dialect is rendered once, however many databases need it. Safe across threads.
class RenderCache {
 public:
  const std::vector<run::Step>& steps(const Target& t, sql::Dialect dialect, const migration::Plan& plan,
                                      const std::vector<std::string>& current,
                                      const std::function<std::vector<run::Step>()>& render);
  std::size_t renders() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<run::Step>> cache_;
  std::size_t renders_ = 0;
};

}  // namespace fastappkit::project
