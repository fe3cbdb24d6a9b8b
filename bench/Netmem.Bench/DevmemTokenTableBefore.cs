using Netmem.Memory;
using Netmem.Skb;
using Netmem.Sockets;

namespace Netmem.Bench;

/// <summary>
/// The token table as it was before the batched lock and the free-token bitmap (commit c4d262f), kept as
/// the baseline of <see cref="DevmemTokenTableBench"/>.
/// <c>sk_user_frags</c>: a socket's devmem tokens. A token is a small integer (from 1, reused lowest-first
/// after release) naming one net_iov the application holds; the table holds the one reference that keeps
/// it out of its page_pool (a pp reference, as the kernel's <c>pp_ref_count</c> increment). The slot arrays
/// grow on warm-up only, so a steady receive/release cycle allocates nothing. Adds come from the
/// connection's context, releases from the application's thread: a lock serializes them (the xarray lock).
/// </summary>
internal sealed class DevmemTokenTableBefore
{
    private readonly Lock _lock = new();
    private SkbFrag[] _frags = new SkbFrag[64]; // index = token; Netmem null when free
    private bool[] _pp = new bool[64];
    private int[] _free = new int[64];         // free tokens below _next, as a min-heap
    private int _freeCount;
    private int _next = 1;                     // tokens >= _next were never handed out
    private bool _closed;

    /// <summary>Tokens held by the application now.</summary>
    public int Outstanding { get; private set; }

    /// <summary>
    /// Takes a reference on <paramref name="netmem"/> (a pp reference when <paramref name="ppRecycle"/> and
    /// a page_pool owns it) and returns its new token; 0 when the socket is closed.
    /// </summary>
    public uint Add(NetmemRef netmem, bool ppRecycle)
    {
        lock (_lock)
        {
            if (_closed) return 0;
            int token;
            if (_freeCount > 0) token = PopMin();
            else
            {
                if (_next == _frags.Length) Grow();
                token = _next++;
            }
            var f = new SkbFrag(netmem, 0, 0);
            f.Ref(ppRecycle);
            _frags[token] = f;
            _pp[token] = ppRecycle;
            Outstanding++;
            return (uint)token;
        }
    }

    /// <summary>
    /// <c>sock_devmem_dontneed</c>: releases the tokens named by <paramref name="ranges"/>, looking at no
    /// more than <see cref="Devmem.MaxDontneedFrags"/> tokens in all; tokens this socket does not hold are
    /// skipped. Returns how many were freed.
    /// </summary>
    public int Release(ReadOnlySpan<DmabufToken> ranges)
    {
        int freed = 0, looked = 0;
        lock (_lock)
        {
            foreach (var r in ranges)
            {
                for (uint j = 0; j < r.TokenCount; j++)
                {
                    if (++looked > Devmem.MaxDontneedFrags) return freed;
                    ulong t = (ulong)r.TokenStart + j;
                    if (t == 0 || t >= (ulong)_next) continue;
                    if (ReleaseOne((int)t)) freed++;
                }
            }
        }
        return freed;
    }

    /// <summary>The socket closes: every token is released and no new one is handed out. Returns how many were held.</summary>
    public int Close()
    {
        int n = 0;
        lock (_lock)
        {
            _closed = true;
            for (int t = 1; t < _next; t++)
                if (ReleaseOne(t)) n++;
        }
        return n;
    }

    private bool ReleaseOne(int token)
    {
        ref var f = ref _frags[token];
        if (f.Netmem.IsNull) return false;
        f.Unref(_pp[token]);
        f = default;
        Outstanding--;
        PushFree(token);
        return true;
    }

    private void Grow()
    {
        int n = _frags.Length * 2;
        Array.Resize(ref _frags, n);
        Array.Resize(ref _pp, n);
        Array.Resize(ref _free, n);
    }

    // A binary min-heap of free tokens, so the lowest free token is reused first (xa_alloc's order).
    private void PushFree(int token)
    {
        int i = _freeCount++;
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (_free[p] <= token) break;
            _free[i] = _free[p];
            i = p;
        }
        _free[i] = token;
    }

    private int PopMin()
    {
        int min = _free[0];
        int last = _free[--_freeCount];
        int i = 0;
        while (true)
        {
            int c = 2 * i + 1;
            if (c >= _freeCount) break;
            if (c + 1 < _freeCount && _free[c + 1] < _free[c]) c++;
            if (last <= _free[c]) break;
            _free[i] = _free[c];
            i = c;
        }
        if (_freeCount > 0) _free[i] = last;
        return min;
    }
}
