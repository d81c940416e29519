#include "ingest/status_mapping.h"

#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"

namespace observex::ingest {
namespace {

TEST(StatusMappingTest, OutcomesToHttpAndGrpc) {
  EXPECT_EQ(HttpStatusFor(Outcome::kAccepted), 200);
  EXPECT_EQ(HttpStatusFor(Outcome::kBadRequest), 400);
  EXPECT_EQ(HttpStatusFor(Outcome::kTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(Outcome::kOverloaded), 429);
  EXPECT_EQ(HttpStatusFor(Outcome::kUnavailable), 503);
  EXPECT_EQ(GrpcCodeFor(Outcome::kBadRequest), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcCodeFor(Outcome::kOverloaded), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcCodeFor(Outcome::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(ShouldRetry(Outcome::kOverloaded));
  EXPECT_TRUE(ShouldRetry(Outcome::kUnavailable));
  EXPECT_FALSE(ShouldRetry(Outcome::kBadRequest));
  EXPECT_FALSE(ShouldRetry(Outcome::kTooLarge));
}

// Decodes google.rpc.Status{code=1, message=2, details=3 (Any{type_url=1, value=2})} with
// the generic wire-format parser, independent of the encoder.
TEST(StatusMappingTest, RpcStatusCarriesRetryInfo) {
  const std::string bytes =
      EncodeRpcStatusProto(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full", 2);
  google::protobuf::UnknownFieldSet status;
  ASSERT_TRUE(status.ParseFromString(bytes));
  ASSERT_EQ(status.field_count(), 3);
  EXPECT_EQ(status.field(0).number(), 1);
  EXPECT_EQ(status.field(0).varint(), 8u);
  EXPECT_EQ(status.field(1).length_delimited(), "queue full");
  google::protobuf::UnknownFieldSet any;
  ASSERT_TRUE(any.ParseFromString(status.field(2).length_delimited()));
  EXPECT_EQ(any.field(0).length_delimited(), "type.googleapis.com/google.rpc.RetryInfo");
  google::protobuf::UnknownFieldSet retry_info;
  ASSERT_TRUE(retry_info.ParseFromString(any.field(1).length_delimited()));
  google::protobuf::UnknownFieldSet duration;
  ASSERT_TRUE(duration.ParseFromString(retry_info.field(0).length_delimited()));
  EXPECT_EQ(duration.field(0).number(), 1);
  EXPECT_EQ(duration.field(0).varint(), 2u);
}

TEST(StatusMappingTest, NoRetryInfoWhenNotRetryable) {
  google::protobuf::UnknownFieldSet status;
  ASSERT_TRUE(
      status.ParseFromString(EncodeRpcStatusProto(grpc::StatusCode::INVALID_ARGUMENT, "bad", 0)));
  EXPECT_EQ(status.field_count(), 2);
  EXPECT_TRUE(MakeGrpcStatus(grpc::StatusCode::INVALID_ARGUMENT, "bad", 0).error_details().empty());
  EXPECT_FALSE(MakeGrpcStatus(grpc::StatusCode::UNAVAILABLE, "down", 1).error_details().empty());
}

TEST(StatusMappingTest, JsonStatus) {
  EXPECT_EQ(EncodeRpcStatusJson(grpc::StatusCode::INVALID_ARGUMENT, "bad \"x\"", 0),
            R"({"code":3,"message":"bad \"x\""})");
  EXPECT_EQ(EncodeRpcStatusJson(grpc::StatusCode::UNAVAILABLE, "down", 1),
            R"({"code":14,"message":"down","details":[{"@type":)"
            R"("type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1s"}]})");
}

}  // namespace
}  // namespace observex::ingest
