// Replays files through a fuzz target's LLVMFuzzerTestOneInput in an ordinary build (any
// compiler, no libFuzzer), so ctest runs the seed corpora and the saved regressions on every
// change (docs/fuzzing.md).
//
//   <target>_replay PATH...   each PATH a file or a directory (its files, sorted; dotfiles are
//                             skipped, so an otherwise empty directory can hold a .gitkeep)
// Exits 0 after replaying at least one input; 2 on a missing path or when nothing was replayed;
// a target's failed property aborts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool replay_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // An exact-size heap buffer, as libFuzzer passes it, so ASan catches a read past the end.
  std::vector<uint8_t> data(text.begin(), text.end());
  std::fprintf(stderr, "replaying %s (%zu bytes)\n", path.c_str(), data.size());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  return true;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path path(argv[i]);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& file : files_in(path)) {
        if (!replay_file(file)) return 2;
        ++replayed;
      }
    } else if (fs::is_regular_file(path, ec)) {
      if (!replay_file(path)) return 2;
      ++replayed;
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  std::printf("replayed %zu inputs\n", replayed);
  return replayed > 0 ? 0 : 2;
}
