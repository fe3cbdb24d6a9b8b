using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Phy;

namespace Netmem.Tests.TcpNet;

/// <summary>
/// A pass-through wire stage that reads the receive window every TCP segment advertises (the 16-bit
/// field, scaled by the shift its SYN announced) from the frame bytes as they cross the wire.
/// </summary>
internal sealed class TcpWindowTap(IWireSink inner) : WireStage(inner)
{
    private int _shift = -1;
    private long _max, _first, _last;
    private long _segments;

    public long MaxWindow => Interlocked.Read(ref _max);
    public long FirstWindow => Interlocked.Read(ref _first);
    public long LastWindow => Interlocked.Read(ref _last);
    public long Segments => Interlocked.Read(ref _segments);

    public override void Transmit(WireFrame frame)
    {
        Span<byte> hdr = stackalloc byte[128];
        hdr = hdr[..Math.Min(frame.Length, hdr.Length)];
        frame.CopyTo(0, hdr);
        if (FlowDissector.Dissect(hdr, out var k) && k.IpProto == FlowDissector.IpProtoTcp && k.HasPorts)
        {
            var t = hdr[k.TransportOffset..];
            byte flags = t[13];
            long wnd = BinaryPrimitives.ReadUInt16BigEndian(t[14..]);
            if ((flags & 0x02) != 0) _shift = SynWindowShift(t[20..(k.HeaderLength - k.TransportOffset)]);
            else if (_shift >= 0 && (flags & 0x04) == 0)
            {
                wnd <<= _shift;
                if (Interlocked.Increment(ref _segments) == 1) _first = wnd;
                _last = wnd;
                if (wnd > _max) _max = wnd;
            }
        }
        Inner.Transmit(frame);
    }

    /// <summary>The window-scale option of a SYN (0 when absent).</summary>
    private static int SynWindowShift(ReadOnlySpan<byte> o)
    {
        int i = 0;
        while (i < o.Length)
        {
            byte kind = o[i];
            if (kind == 0) break;
            if (kind == 1) { i++; continue; }
            if (i + 1 >= o.Length) break;
            int len = o[i + 1];
            if (len < 2) break;
            if (kind == 3 && len == 3 && i + 2 < o.Length) return o[i + 2];
            i += len;
        }
        return 0;
    }
}
