// The one translation unit that compiles toml++'s implementation.
#define TOML_IMPLEMENTATION
#include "toml_support.hpp"
