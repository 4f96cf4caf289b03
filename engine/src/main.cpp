#include <exception>
#include <iostream>

#include "fastappkit/cli/cli.hpp"

int main(int argc, char** argv) {
  try {
    return fastappkit::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "fastappkit: error: " << e.what() << "\n";
    return 1;
  }
}
