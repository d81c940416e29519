// Parses arbitrary text as PromQL. Whatever parses must print as PromQL that parses again
// and prints identically (the printer round-trips); nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "query/promql/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string query(reinterpret_cast<const char*>(data), size);
  auto parsed = observex::query::promql::ParseExpr(query);
  if (!parsed.ok()) return 0;
  std::string printed = (*parsed)->String();
  auto again = observex::query::promql::ParseExpr(printed);
  if (!again.ok()) {
    std::fprintf(stderr, "printed form does not parse\ninput:   %s\nprinted: %s\nerror:   %s\n",
                 query.c_str(), printed.c_str(), std::string(again.status().message()).c_str());
    std::abort();
  }
  std::string reprinted = (*again)->String();
  if (reprinted != printed) {
    std::fprintf(stderr, "printing is not stable\ninput:   %s\nprinted: %s\nthen:    %s\n",
                 query.c_str(), printed.c_str(), reprinted.c_str());
    std::abort();
  }
  return 0;
}
