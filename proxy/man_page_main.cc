// camproxy_man_page OUTPUT: writes camproxy(1) (proxy/config/man_page.h) for the Debian package.
#include <cstdio>
#include <fstream>

#include "proxy/config/man_page.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: camproxy_man_page OUTPUT\n");
    return 2;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << camproxy::proxy::man_page();
  return out.good() ? 0 : 1;
}
