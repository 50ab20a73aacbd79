// shm/shared_memory.hpp builds on its own, with every name it declares.
#include "shm/shared_memory.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

int main() {
  const std::string name = "dropin-only-sm-" + std::to_string(::getpid());
  shm::SharedMemory created(name.c_str(), 64, true, false);
  shm::SharedMemory opened(name.c_str(), 64, false);
  const bool ok = created.Valid() && opened.Valid() && created.GetError() == shm::Error::kOk &&
                  opened.Size() == 64 && created.Data() != nullptr &&
                  std::string(created.Name()) == "/" + name;
  opened.Destroy();
  std::printf("%s\n", ok ? "ok" : "failed");
  return ok ? 0 : 1;
}
