#include <exception>
#include <iostream>

#include "fastappkit/cli/cli.hpp"
#include "fastappkit/util/interrupt.hpp"

int main(int argc, char** argv) {
  fastappkit::util::install_interrupt_handlers();
  try {
    return fastappkit::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    fastappkit::cli::print_unexpected(std::cerr, e);
    return 1;
  }
}
