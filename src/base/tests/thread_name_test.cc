#include "base/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace gh {
namespace {

std::string name_in_thread(const std::string& wanted) {
  std::string got;
  std::thread t([&] {
    set_thread_name(wanted);
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    got = buf;
  });
  t.join();
  return got;
}

TEST(ThreadName, TheThreadCarriesTheName) {
  EXPECT_EQ(name_in_thread("gh-io-0"), "gh-io-0");
}

TEST(ThreadName, ALongNameIsCutToWhatLinuxKeeps) {
  // pthread_setname_np refuses more than 15 bytes outright; the name is cut instead.
  EXPECT_EQ(name_in_thread("gh-peers-listen-extra"), "gh-peers-listen");
}

}  // namespace
}  // namespace gh
