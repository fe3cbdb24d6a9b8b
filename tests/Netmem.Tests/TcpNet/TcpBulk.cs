using System.IO.Hashing;
using System.Security.Cryptography;
using Netmem.Stack;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.TcpNet;

/// <summary>
/// One direction of a bulk transfer run entirely on the connections' own threads: the sender refills
/// its send buffer from a random block whenever the connection says it is writable, the receiver copies
/// out and hashes whenever it is readable (as an application on the stack's thread would). Both ends
/// hash what they saw (XxHash128, or SHA-256 when asked); nothing here allocates once started.
/// </summary>
internal sealed class TcpBulk
{
    private readonly byte[] _block;
    private readonly byte[] _buf;
    private readonly long _total;
    private readonly bool _sha;
    private readonly XxHash128 _txX = new(), _rxX = new();
    private readonly IncrementalHash? _txS, _rxS;
    private long _sent, _got;
    private int _off;
    private readonly Side _txSide, _rxSide;

    public TcpBulk(TcpConnection tx, TcpConnection rx, long total, bool sha256 = false, int seed = 1, bool closeWhenDone = false, bool manualRead = false)
    {
        ManualRead = manualRead;
        Tx = tx;
        Rx = rx;
        _total = total;
        _sha = sha256;
        _block = new byte[1 << 20];
        new Random(seed).NextBytes(_block);
        _buf = new byte[256 * 1024];
        if (sha256)
        {
            _txS = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            _rxS = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        }
        CloseWhenDone = closeWhenDone;
        _txSide = new Side(this, true);
        _rxSide = new Side(this, false);
    }

    public TcpConnection Tx { get; }
    public TcpConnection Rx { get; }
    public bool CloseWhenDone { get; }
    /// <summary>The receiver reads only when the test calls <see cref="ReadSome"/> (a slow reader).</summary>
    public bool ManualRead { get; }
    public long Sent => Interlocked.Read(ref _sent);
    public long Received => Interlocked.Read(ref _got);
    public volatile bool ReceiverSawEof;
    public bool Done => Received >= _total;

    /// <summary>Hooks both ends (on their contexts) and starts sending.</summary>
    public void Start(TcpNetEnv env)
    {
        if (!ManualRead) env.On(Rx.Context, () => { Rx.Events = Chain(Rx.Events, _rxSide); Drain(); });
        Tx.Context.Post(_txSide); // sets the events and sends on the sender's thread
    }

    /// <summary>Sends what fits now (sender thread).</summary>
    private void Fill()
    {
        while (_sent < _total)
        {
            int len = (int)Math.Min(_block.Length - _off, _total - _sent);
            int k = Tx.Send(_block.AsSpan(_off, len));
            if (k <= 0) break;
            if (_sha) _txS!.AppendData(_block, _off, k); else _txX.Append(_block.AsSpan(_off, k));
            Interlocked.Add(ref _sent, k);
            _off = (_off + k) % _block.Length;
        }
        if (_sent >= _total && CloseWhenDone && !Tx.AppClosed) Tx.Close();
    }

    /// <summary>Reads what is queued (receiver thread).</summary>
    private void Drain()
    {
        int r;
        while ((r = Rx.Receive(_buf)) > 0)
        {
            if (_sha) _rxS!.AppendData(_buf, 0, r); else _rxX.Append(_buf.AsSpan(0, r));
            Interlocked.Add(ref _got, r);
        }
        if (r == 0) ReceiverSawEof = true;
    }

    public override string ToString() => $"sent {Sent} received {Received} of {_total}";

    /// <summary>Reads at most <paramref name="max"/> bytes (receiver thread).</summary>
    public void ReadSome(int max)
    {
        while (max > 0)
        {
            int r = Rx.Receive(_buf.AsSpan(0, Math.Min(max, _buf.Length)));
            if (r <= 0) break;
            if (_sha) _rxS!.AppendData(_buf, 0, r); else _rxX.Append(_buf.AsSpan(0, r));
            Interlocked.Add(ref _got, r);
            max -= r;
        }
    }

    /// <summary>Both hashes, once <see cref="Done"/>.</summary>
    public (byte[] Tx, byte[] Rx) Hashes() => _sha
        ? (_txS!.GetHashAndReset(), _rxS!.GetHashAndReset())
        : (_txX.GetCurrentHash(), _rxX.GetCurrentHash());

    /// <summary>Asserts every byte arrived and both ends hashed the same stream.</summary>
    public void AssertEqual()
    {
        Assert.Equal(_total, Received);
        Assert.Equal(_total, Sent);
        var (t, r) = Hashes();
        Assert.Equal(Convert.ToHexString(t), Convert.ToHexString(r));
    }

    /// <summary>Both handlers see the events (one connection carrying a transfer each way).</summary>
    private static ITcpConnectionEvents Chain(ITcpConnectionEvents? first, ITcpConnectionEvents second) =>
        first is null ? second : new Pair(first, second);

    private sealed class Pair(ITcpConnectionEvents a, ITcpConnectionEvents b) : ITcpConnectionEvents
    {
        public void OnTcpEvents(TcpConnection connection, TcpEvents events)
        {
            a.OnTcpEvents(connection, events);
            b.OnTcpEvents(connection, events);
        }
    }

    private sealed class Side(TcpBulk bulk, bool sender) : StackWork, ITcpConnectionEvents
    {
        public void OnTcpEvents(TcpConnection connection, TcpEvents events)
        {
            if (sender && (events & TcpEvents.Writable) != 0) bulk.Fill();
            if (!sender && (events & (TcpEvents.Readable | TcpEvents.Closed)) != 0) bulk.Drain();
        }

        protected internal override void Run(StackContext context)
        {
            if (sender)
            {
                bulk.Tx.Events = Chain(bulk.Tx.Events, this);
                bulk.Fill();
            }
            else bulk.Drain();
        }
    }
}
