using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>The header fields of one received segment (<c>TCP_SKB_CB</c>): read once from the wire, payload left in the skb.</summary>
internal readonly struct TcpSegment
{
    public readonly uint Seq, Ack;
    public readonly TcpFlags Flags;
    public readonly ushort Window;
    public readonly int PayloadLength;
    public readonly TcpOptions Options;
    /// <summary>The IP header's ECN field (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE).</summary>
    public readonly byte Ecn;

    public TcpSegment(uint seq, uint ack, TcpFlags flags, ushort window, int payloadLength, in TcpOptions options, byte ecn = 0)
    {
        Seq = seq; Ack = ack; Flags = flags; Window = window; PayloadLength = payloadLength; Options = options; Ecn = ecn;
    }

    public bool Syn => (Flags & TcpFlags.Syn) != 0;
    public bool Fin => (Flags & TcpFlags.Fin) != 0;
    public bool Rst => (Flags & TcpFlags.Rst) != 0;
    public bool HasAck => (Flags & TcpFlags.Ack) != 0;
    /// <summary>SEG.LEN: payload plus SYN and FIN.</summary>
    public int SegLen => PayloadLength + (Syn ? 1 : 0) + (Fin ? 1 : 0);
    public uint End => Seq + (uint)SegLen;
}

/// <summary>What a connection tells its socket (set on the owner thread; the socket wakes its waiters).</summary>
[Flags]
public enum TcpEvents
{
    None = 0,
    /// <summary>Connected, or the connect failed (look at the state and <see cref="TcpConnection.Error"/>).</summary>
    Connect = 1,
    /// <summary>Data or EOF to read.</summary>
    Readable = 2,
    /// <summary>Room in the send buffer.</summary>
    Writable = 4,
    /// <summary>The connection reached CLOSED or TIME_WAIT, or failed with an error.</summary>
    Closed = 8,
    /// <summary>A record was queued on <see cref="TcpConnection.ErrorQueue"/> (<c>sk_error_report</c>: POLLERR, MSG_ERRQUEUE).</summary>
    Error = 16,
}

/// <summary>The socket side of a connection (<c>sk_data_ready</c>, <c>sk_write_space</c>, <c>sk_state_change</c>, <c>sk_error_report</c>).</summary>
public interface ITcpConnectionEvents
{
    /// <summary>Called on the connection's context thread.</summary>
    void OnTcpEvents(TcpConnection connection, TcpEvents events);
}
