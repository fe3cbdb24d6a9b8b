namespace Netmem.Tests.Wire;

/// <summary>
/// Frames captured with tcpdump from Linux 6.18 on a veth pair between two network namespaces
/// (host A 192.168.1.1, MAC c6:71:75:38:24:e5; host B 192.168.1.2, MAC 5a:50:a6:73:85:8d), with
/// transmit checksum offload switched off so the TCP and UDP checksums in the bytes are complete. The
/// traffic was iputils `ping`, a Python TCP client and server, a UDP datagram to a closed port, a
/// connect to a closed port, and `ping -t 1` through a forwarding namespace. The SACK segments come
/// from a second run where a raw socket (192.168.1.3) sent host B out-of-order data, so B's kernel
/// answered with duplicate ACKs carrying SACK blocks. capture/capture.sh and capture/sack.sh redo both
/// runs (MAC addresses, ports and timestamps differ each time).
/// </summary>
internal static class Captures
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex);

    /// <summary>A: who-has 192.168.1.2 tell 192.168.1.1 (broadcast).</summary>
    public const string ArpRequest =
        "ffffffffffffc671753824e50806" +
        "0001080006040001c671753824e5c0a80101000000000000c0a80102";

    /// <summary>B: 192.168.1.2 is-at 5a:50:a6:73:85:8d.</summary>
    public const string ArpReply =
        "c671753824e55a50a673858d0806" +
        "00010800060400025a50a673858dc0a80102c671753824e5c0a80101";

    /// <summary>iputils ping A -> B: id 24574, seq 1, 56 data bytes (16-byte timeval, then 0x10..0x37).</summary>
    public const string EchoRequest =
        "5a50a673858dc671753824e50800" +
        "45000054090940004001ae4cc0a80101c0a80102" +
        "080058ca5ffe0001" +
        "1f60066b0000000050980a0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    /// <summary>B's kernel answering the echo request.</summary>
    public const string EchoReply =
        "c671753824e55a50a673858d0800" +
        "45000054c1e900004001356cc0a80102c0a80101" +
        "000060ca5ffe0001" +
        "1f60066b0000000050980a0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    /// <summary>A: SYN 47896 -> 8080, options mss 1460, sackOK, TS val 2726290442 ecr 0, nop, wscale 10.</summary>
    public const string TcpSyn =
        "5a50a673858dc671753824e50800" +
        "4500003c5144400040066624c0a80101c0a80102" +
        "bb181f900f23cbf000000000a002faf08d710000" +
        "020405b40402080aa27fe40a000000000103030a";

    /// <summary>B: SYN-ACK, same options with TS ecr echoing A.</summary>
    public const string TcpSynAck =
        "c671753824e55a50a673858d0800" +
        "4500003c000040004006b768c0a80102c0a80101" +
        "1f90bb182063df3e0f23cbf1a012fe88b3950000" +
        "020405b40402080af4bde1d2a27fe40a0103030a";

    /// <summary>A: PSH ACK carrying "ping\n", options nop nop TS.</summary>
    public const string TcpData =
        "5a50a673858dc671753824e50800" +
        "450000395146400040066625c0a80101c0a80102" +
        "bb181f900f23cbf12063df3f8018003ff7d00000" +
        "0101080aa27fe40af4bde1d2" +
        "70696e670a";

    /// <summary>B: RST ACK for a SYN to closed port 81 (no options, window 0).</summary>
    public const string TcpRst =
        "c671753824e55a50a673858d0800" +
        "45000028000040004006b77cc0a80102c0a80101" +
        "0051ed60000000006d13b5fa501400001bbd0000";

    /// <summary>
    /// B (192.168.1.2 -> 192.168.1.3): duplicate ACK with nop nop TS val 2502177151 ecr 2 and
    /// nop nop SACK 1301:1401 1101:1201 (two blocks, newest first).
    /// </summary>
    public const string TcpSack =
        "9afe377144c582a11517043f0800" +
        "45000048e56840004006d1f1c0a80102c0a80103" +
        "1f909c404859075e000003e9d0100040b35d0000" +
        "0101080a9524317f00000002" +
        "0101051200000515000005790000044d000004b1";

    /// <summary>A: UDP 41621 -> 5353, "hello udp\n".</summary>
    public const string Udp =
        "5a50a673858dc671753824e50800" +
        "450000261aa7400040119cccc0a80101c0a80102" +
        "a29514e900129b96" +
        "68656c6c6f207564700a";

    /// <summary>B: ICMP port unreachable (type 3 code 3, TOS 0xc0) quoting the whole UDP datagram above.</summary>
    public const string PortUnreachable =
        "c671753824e55a50a673858d0800" +
        "45c00042c2fc0000400133abc0a80102c0a80101" +
        "0303807400000000" +
        "450000261aa7400040119cccc0a80101c0a80102a29514e900129b9668656c6c6f207564700a";

    /// <summary>
    /// The forwarding namespace B answering `ping -t 1 192.168.2.2`: time exceeded (type 11 code 0)
    /// quoting the TTL-1 echo request whole.
    /// </summary>
    public const string TimeExceeded =
        "c671753824e55a50a673858d0800" +
        "45c00070c308000040013371c0a80102c0a80101" +
        "0b00f4ff00000000" +
        "450000543d7a40000101b7dbc0a80101c0a80202" +
        "0800ee48605200012160066b00000000c1c5010000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    /// <summary>Every captured frame, for loops over all of them.</summary>
    public static readonly string[] All =
        [ArpRequest, ArpReply, EchoRequest, EchoReply, TcpSyn, TcpSynAck, TcpData, TcpRst, TcpSack, Udp, PortUnreachable, TimeExceeded];
}
