#include "common/lock_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace observex {
namespace {

std::filesystem::path FreshDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "obx-lock-XXXXXX").string();
  const char* made = ::mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  return made == nullptr ? std::filesystem::path() : std::filesystem::path(made);
}

// A held lock refuses a second holder, naming the file; releasing it lets the next one in.
TEST(LockFile, OneHolderAtATime) {
  const auto dir = FreshDir();
  const auto path = dir / "LOCK";
  {
    auto first = LockFile::Acquire(path);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = LockFile::Acquire(path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find(path.string()), std::string::npos) << second.status();
    // Moved, the lock stays held.
    LockFile moved = std::move(*first);
    EXPECT_FALSE(LockFile::Acquire(path).ok());
  }
  EXPECT_TRUE(LockFile::Acquire(path).ok());
  std::filesystem::remove_all(dir);
}

// Another process is refused while this one holds the lock, and a holder that dies without
// releasing it (no destructor runs) leaves no stale lock behind.
TEST(LockFile, AnotherProcessIsRefusedAndADeadHolderLeavesNoLock) {
  const auto dir = FreshDir();
  const auto path = dir / "LOCK";
  {
    auto held = LockFile::Acquire(path);
    ASSERT_TRUE(held.ok()) << held.status();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) _exit(LockFile::Acquire(path).ok() ? 1 : 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child got the lock";
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = LockFile::Acquire(path);
    if (!lock.ok()) _exit(2);
    std::_Exit(0);  // dies holding it
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(LockFile::Acquire(path).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace observex
