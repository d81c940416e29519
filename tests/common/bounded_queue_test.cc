#include "common/bounded_queue.h"

#include <thread>

#include "gtest/gtest.h"

namespace observex {
namespace {

TEST(BoundedQueueTest, RefusesPastCapacityByWeight) {
  BoundedQueue<int> q(10);
  int a = 1, b = 2, c = 3;
  EXPECT_TRUE(q.TryPush(a, 6));
  EXPECT_TRUE(q.TryPush(b, 4));
  EXPECT_FALSE(q.TryPush(c, 1));
  EXPECT_EQ(c, 3);  // a refused item is left with the caller
  EXPECT_EQ(q.used_weight(), 10u);
  EXPECT_EQ(*q.Pop(), 1);
  EXPECT_EQ(q.used_weight(), 4u);
  EXPECT_TRUE(q.TryPush(c, 6));
  EXPECT_FALSE(q.TryPush(c, 1));
}

TEST(BoundedQueueTest, OversizedItemOnlyIntoEmptyQueue) {
  BoundedQueue<int> q(4);
  int a = 1, big = 2;
  EXPECT_TRUE(q.TryPush(a, 1));
  EXPECT_FALSE(q.TryPush(big, 100));
  ASSERT_TRUE(q.Pop().has_value());
  EXPECT_TRUE(q.TryPush(big, 100));
}

TEST(BoundedQueueTest, CloseWakesWaitersAndDrains) {
  BoundedQueue<int> q(1);
  int a = 7;
  ASSERT_TRUE(q.TryPush(a, 1));
  std::thread blocked([&] { EXPECT_FALSE(q.Push(8, 1)); });
  q.Close();
  blocked.join();
  EXPECT_EQ(*q.Pop(), 7);
  EXPECT_FALSE(q.Pop().has_value());
  int b = 9;
  EXPECT_FALSE(q.TryPush(b, 1));
}

TEST(BoundedQueueTest, PushWaitsForRoom) {
  BoundedQueue<int> q(1);
  ASSERT_TRUE(q.Push(1, 1));
  std::thread producer([&] { EXPECT_TRUE(q.Push(2, 1)); });
  EXPECT_EQ(*q.Pop(), 1);
  producer.join();
  EXPECT_EQ(*q.Pop(), 2);
}

TEST(BoundedQueueTest, PopForTimesOut) {
  BoundedQueue<int> q(1);
  EXPECT_FALSE(q.PopFor(std::chrono::milliseconds(5)).has_value());
}

}  // namespace
}  // namespace observex
