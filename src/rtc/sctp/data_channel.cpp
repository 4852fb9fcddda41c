#include "rtc/sctp/data_channel.hpp"

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

}  // namespace trystero::rtc
