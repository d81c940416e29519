#include <filesystem>
#include <iostream>

#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "common/clock.h"
#include "tenant/control_plane.h"

namespace observex::app {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<tenant::ControlPlane>> OpenControlPlane(const std::string& data_dir,
                                                                       bool create) {
  const fs::path db = fs::path(data_dir) / "control.db";
  if (!create && !fs::exists(db)) {
    return absl::NotFoundError(absl::StrCat("no control plane at ", db.string(),
                                            "; run 'observex serve --data-dir ", data_dir,
                                            "' once, or pass --data-dir"));
  }
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  return tenant::ControlPlane::Open(db);
}

std::string FormatTime(int64_t unix_seconds) {
  std::string s = FormatRfc3339Nanos(unix_seconds * 1'000'000'000);
  return s.substr(0, 19) + "Z";
}

}  // namespace

int RunKeysCreate(const std::string& data_dir, const std::string& tenant_name) {
  if (auto st = tenant::ValidateTenantName(tenant_name); !st.ok()) {
    std::cerr << "observex keys create: " << st.message() << "\n";
    return 2;
  }
  auto cp = OpenControlPlane(data_dir, /*create=*/true);
  if (!cp.ok()) {
    std::cerr << "observex keys create: " << cp.status().message() << "\n";
    return 1;
  }
  auto key = (*cp)->CreateKey(tenant_name, /*create_tenant=*/true);
  if (!key.ok()) {
    std::cerr << "observex keys create: " << key.status().message() << "\n";
    return 1;
  }
  std::cout << "Created API key " << key->info.id << " for tenant '" << key->info.tenant_name
            << "'. It is shown only now; store it:\n"
            << key->secret << "\n";
  return 0;
}

int RunKeysList(const std::string& data_dir) {
  auto cp = OpenControlPlane(data_dir, /*create=*/false);
  if (!cp.ok()) {
    std::cerr << "observex keys list: " << cp.status().message() << "\n";
    return 1;
  }
  auto keys = (*cp)->ListKeys();
  if (!keys.ok()) {
    std::cerr << "observex keys list: " << keys.status().message() << "\n";
    return 1;
  }
  std::cout << absl::StrFormat("%-6s %-24s %-12s %-21s %s\n", "ID", "TENANT", "PREFIX", "CREATED",
                               "REVOKED");
  for (const auto& k : *keys) {
    std::cout << absl::StrFormat(
        "%-6d %-24s %-12s %-21s %s\n", k.id, k.tenant_name, k.prefix, FormatTime(k.created_at_unix),
        k.revoked_at_unix ? FormatTime(*k.revoked_at_unix) : std::string("-"));
  }
  return 0;
}

int RunKeysRevoke(const std::string& data_dir, int64_t key_id) {
  auto cp = OpenControlPlane(data_dir, /*create=*/false);
  if (!cp.ok()) {
    std::cerr << "observex keys revoke: " << cp.status().message() << "\n";
    return 1;
  }
  if (auto st = (*cp)->RevokeKey(key_id); !st.ok()) {
    std::cerr << "observex keys revoke: " << st.message() << "\n";
    return st.code() == absl::StatusCode::kNotFound ? 2 : 1;
  }
  std::cout << "Revoked API key " << key_id << "; running servers refuse it within 5 seconds.\n";
  return 0;
}

}  // namespace observex::app
