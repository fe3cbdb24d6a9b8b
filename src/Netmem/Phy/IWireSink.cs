namespace Netmem.Phy;

/// <summary>
/// The device boundary of the in-memory wire (smoltcp's <c>phy</c> shape): something frames can be put
/// on. A NIC's receive side is one; fault injection, shaping and capture are sinks that wrap another
/// sink. <see cref="Transmit"/> may be called from several threads (a NIC's TX queues run on different
/// NAPI or application threads), so a sink with state keeps its own lock.
/// </summary>
public interface IWireSink
{
    /// <summary>
    /// Carries one frame. The frame is only valid during the call (its pieces may point at the sender's
    /// TX buffers, which are released when the call returns): a sink that keeps a frame for later copies
    /// it into a <see cref="WireFrame"/> of its own (<see cref="WireFramePool"/>).
    /// </summary>
    void Transmit(WireFrame frame);
}
