using System.Buffers.Binary;

namespace Netmem.Phy;

/// <summary>Settings for a <see cref="PcapWriter"/>.</summary>
public sealed record PcapWriterOptions
{
    /// <summary>Bytes kept of each frame (snaplen). Default 65535.</summary>
    public int Snaplen { get; init; } = 65535;
    /// <summary>Nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds (0xa1b2c3d4). Default false.</summary>
    public bool Nanoseconds { get; init; }
    /// <summary>Leave the stream open on dispose. Default false.</summary>
    public bool LeaveOpen { get; init; }
    /// <summary>Clock for the record timestamps. Null means <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; init; }
}

/// <summary>
/// Writes frames in the classic libpcap file format (version 2.4, LINKTYPE_ETHERNET), which tcpdump,
/// Wireshark and tshark read. Thread-safe; the scratch buffer is allocated once.
/// </summary>
public sealed class PcapWriter : IDisposable
{
    public const uint MagicMicroseconds = 0xa1b2c3d4;
    public const uint MagicNanoseconds = 0xa1b23c4d;
    public const uint LinktypeEthernet = 1;

    private readonly Stream _out;
    private readonly PcapWriterOptions _o;
    private readonly TimeProvider _time;
    private readonly byte[] _buf;
    private readonly Lock _lock = new();
    private bool _disposed;

    public PcapWriter(Stream output, PcapWriterOptions? options = null)
    {
        _out = output ?? throw new ArgumentNullException(nameof(output));
        _o = options ?? new();
        if (_o.Snaplen <= 0) throw new ArgumentOutOfRangeException(nameof(options), $"snaplen {_o.Snaplen} must be positive");
        _time = _o.TimeProvider ?? TimeProvider.System;
        _buf = new byte[16 + Math.Min(_o.Snaplen, WireFrame.MaxFrameSize)];
        Span<byte> h = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, _o.Nanoseconds ? MagicNanoseconds : MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);  // thiszone
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0); // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)_o.Snaplen);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], LinktypeEthernet);
        _out.Write(h);
    }

    /// <summary>Records written.</summary>
    public long Records { get; private set; }

    /// <summary>Appends one record: timestamp, captured and original length, then the bytes.</summary>
    public void Write(WireFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int caplen = Math.Min(frame.Length, _buf.Length - 16);
            var now = _time.GetUtcNow();
            long ticks = now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks; // 100 ns units
            var b = _buf.AsSpan();
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)(ticks / TimeSpan.TicksPerSecond));
            long frac = ticks % TimeSpan.TicksPerSecond;
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)(_o.Nanoseconds ? frac * 100 : frac / 10));
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)caplen);
            BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)frame.Length);
            frame.CopyTo(0, b.Slice(16, caplen));
            _out.Write(b[..(16 + caplen)]);
            Records++;
        }
    }

    public void Flush()
    {
        lock (_lock) _out.Flush();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _out.Flush();
            if (!_o.LeaveOpen) _out.Dispose();
        }
    }
}

/// <summary>A wire stage that records every frame with a <see cref="PcapWriter"/> and passes it on unchanged.</summary>
public sealed class PcapCapture : WireStage
{
    public PcapCapture(IWireSink inner, PcapWriter writer) : base(inner) =>
        Writer = writer ?? throw new ArgumentNullException(nameof(writer));

    /// <summary>Captures into a new pcap stream.</summary>
    public PcapCapture(IWireSink inner, Stream output, PcapWriterOptions? options = null) : this(inner, new PcapWriter(output, options)) { }

    public PcapWriter Writer { get; }

    public override void Transmit(WireFrame frame)
    {
        Writer.Write(frame);
        Inner.Transmit(frame);
    }

    protected override void DisposeCore() => Writer.Dispose();
}
