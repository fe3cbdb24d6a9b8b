namespace Netmem.Sockets;

/// <summary>The UDP-MIB counters (<c>/proc/net/snmp</c> Udp: line).</summary>
public enum UdpMib
{
    InDatagrams,
    /// <summary>Datagrams to a port nobody listens on (answered with ICMP port unreachable).</summary>
    NoPorts,
    /// <summary>Malformed datagrams (short header, bad length).</summary>
    InErrors,
    OutDatagrams,
    /// <summary>Dropped because the socket's receive buffer was full.</summary>
    RcvbufErrors,
    InCsumErrors,
    /// <summary>Checksum present but the payload is unreadable and the device did not verify it.</summary>
    CsumUnverifiable,
    /// <summary>Datagrams freed because their socket closed before they were read.</summary>
    ClosedDrops,
    /// <summary>UDP_SEGMENT sends split into several datagrams.</summary>
    SegmentedSends,
}

/// <summary>UDP counters, updated with interlocked adds from the RX and socket contexts.</summary>
public sealed class UdpStats
{
    private readonly long[] _v = new long[Enum.GetValues<UdpMib>().Length];
    internal void Inc(UdpMib m) => Interlocked.Increment(ref _v[(int)m]);
    public long this[UdpMib m] => Interlocked.Read(ref _v[(int)m]);
    public override string ToString()
    {
        var parts = new List<string>();
        for (int i = 0; i < _v.Length; i++) if (_v[i] != 0) parts.Add($"{(UdpMib)i}={_v[i]}");
        return string.Join(' ', parts);
    }
}
