#include "beside.hpp"

#include <sched.h>

namespace fastappkit::util {

bool start_beside(pthread_t& thread, void* (*fn)(void*), void* arg) {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int here = sched_getcpu();
  if (here < 0 || sched_getaffinity(0, sizeof cpus, &cpus) != 0) return false;
  CPU_CLR(here, &cpus);
  if (CPU_COUNT(&cpus) == 0) return false;
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  const bool started =
      pthread_attr_setaffinity_np(&attr, sizeof cpus, &cpus) == 0 && pthread_create(&thread, &attr, fn, arg) == 0;
  pthread_attr_destroy(&attr);
  return started;
}

}  // namespace fastappkit::util
