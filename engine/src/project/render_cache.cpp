#include "fastappkit/project/render_cache.hpp"

#include <algorithm>

#include "fastappkit/project/workspace.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

const std::vector<run::Step>& RenderCache::steps(const Target& t, sql::Dialect dialect, const migration::Plan& plan,
                                                 const std::vector<std::string>& current,
                                                 const std::function<std::vector<run::Step>()>& render) {
  std::vector<std::string> rows = current;
  std::sort(rows.begin(), rows.end());
  std::string key = t.name + "\n" + std::string(sql::traits(dialect).name) + "\n" +
                    (plan.direction == migration::Direction::upgrade ? "up" : "down") + "\n" + util::join(rows, ",") +
                    "\n" + util::join(plan.steps, ",");
  std::lock_guard<std::mutex> g(mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    it = cache_.emplace(key, render()).first;
    ++renders_;
  }
  return it->second;
}

std::size_t RenderCache::renders() const {
  std::lock_guard<std::mutex> g(mutex_);
  return renders_;
}

}  // namespace fastappkit::project
