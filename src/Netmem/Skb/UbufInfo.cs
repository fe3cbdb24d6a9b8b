namespace Netmem.Skb;

/// <summary>
/// <c>struct ubuf_info</c>: a completion object that skbs carrying someone else's memory point at
/// (<see cref="SkbSharedInfo.Ubuf"/>, the kernel's <c>destructor_arg</c>). Each holder has a reference;
/// when the last goes, <see cref="Complete"/> runs (on that thread). <see cref="Zerocopy"/> turns false
/// once any holder copied the bytes instead of sending them from the memory (<c>SO_EE_CODE_ZEROCOPY_COPIED</c>).
/// </summary>
public abstract class UbufInfo
{
    private int _refs;
    private int _copied;

    /// <summary>References held (<c>refcnt</c>).</summary>
    public int RefCount => Volatile.Read(ref _refs);

    /// <summary><c>uarg->zerocopy</c>: no holder copied the data.</summary>
    public bool Zerocopy => Volatile.Read(ref _copied) == 0;

    /// <summary>Starts a life with one reference, the creator's.</summary>
    protected void Init()
    {
        Volatile.Write(ref _refs, 1);
        Volatile.Write(ref _copied, 0);
    }

    /// <summary><c>net_zcopy_get</c>.</summary>
    public void Get()
    {
        if (Interlocked.Increment(ref _refs) <= 1)
        {
            Interlocked.Decrement(ref _refs);
            throw new InvalidOperationException($"{this}: reference taken after completion");
        }
    }

    /// <summary><c>net_zcopy_put</c>: the last reference completes it.</summary>
    public void Put()
    {
        int now = Interlocked.Decrement(ref _refs);
        if (now == 0) Complete();
        else if (now < 0)
        {
            Interlocked.Increment(ref _refs);
            throw new InvalidOperationException($"{this}: released more often than referenced");
        }
    }

    /// <summary>
    /// <c>skb_zcopy_downgrade_managed</c>/<c>skb_copy_ubufs</c>'s effect on the report: the data was copied
    /// after all (a driver wrote frame bytes with a system call, a route without scatter-gather).
    /// </summary>
    public void MarkCopied() => Volatile.Write(ref _copied, 1);

    /// <summary><c>ubuf_info_ops.complete</c>: every holder let go.</summary>
    protected abstract void Complete();
}
