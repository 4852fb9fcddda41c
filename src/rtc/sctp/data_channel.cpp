#include "rtc/sctp/data_channel.hpp"

#include <algorithm>

#include "loop/loop.hpp"
#include "rtc/sctp/sctp_transport.hpp"

namespace trystero::rtc {

DataChannel::DataChannel(std::weak_ptr<SctpTransport> transport, std::string label,
                         std::string protocol)
    : transport_(std::move(transport)), label_(std::move(label)), protocol_(std::move(protocol)) {}

DataChannel::~DataChannel() = default;

bool DataChannel::send(std::string_view text) {
  if (state_ != State::Open) return false;
  auto transport = transport_.lock();
  if (!transport) return false;
  return transport->sendMessage(
      *this, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, false);
}

bool DataChannel::send(std::span<const std::uint8_t> binary) {
  if (state_ != State::Open) return false;
  auto transport = transport_.lock();
  if (!transport) return false;
  return transport->sendMessage(*this, binary, true);
}

bool DataChannel::drained() const {
  if (state_ != State::Open) return true;
  if (bufferedAmount_ > 0) return false;
  auto transport = transport_.lock();
  return !transport || !transport->hasDataInFlight();
}

void DataChannel::close() {
  if (state_ == State::Closing || state_ == State::Closed) return;
  auto transport = transport_.lock();
  if (!transport) {
    // The transport is gone, and with it the association.
    state_ = State::Closed;
    return;
  }
  transport->closeChannel(*this);
}

void DataChannel::setOpen() {
  if (state_ != State::Connecting) return;
  state_ = State::Open;
  if (onOpen_) onOpen_();
}

void DataChannel::setClosed(loop::Loop& loop) {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  if (onClose_) onClose_();
  // Drop the application's callbacks later (they may be running right now) so that lambdas
  // capturing the channel do not keep it alive forever.
  loop.post([self = shared_from_this()] {
    self->onOpen_ = nullptr;
    self->onMessage_ = nullptr;
    self->onClose_ = nullptr;
    self->onBufferedAmountLow_ = nullptr;
    self->onError_ = nullptr;
  });
}

void DataChannel::bufferedAmountSent(std::size_t bytes) {
  std::size_t before = bufferedAmount_;
  bufferedAmount_ = before - std::min(before, bytes);
  if (before > lowThreshold_ && bufferedAmount_ <= lowThreshold_ && onBufferedAmountLow_ &&
      state_ == State::Open) {
    auto guard = shared_from_this();
    onBufferedAmountLow_();
  }
}

}  // namespace trystero::rtc
