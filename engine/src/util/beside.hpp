#pragma once
// A thread beside the caller's, on another CPU. Internal to the engine.
#include <pthread.h>

namespace fastappkit::util {

// Starts fn(arg) on a new thread allowed on every CPU of this process but the one the caller
// runs on, and returns whether it did (false with one CPU, or when no thread can be had: the
// caller then does the work itself). Left to the scheduler, a new thread starts on its
// creator's CPU and waits there for a time slice: 0.06 to 3.8 ms from pthread_create to its
// first instruction in a C program on the 2-core reference VM, against 64 to 104 us with this
// mask, which is the difference between overlapping a few milliseconds of work and not.
bool start_beside(pthread_t& thread, void* (*fn)(void*), void* arg);

}  // namespace fastappkit::util
