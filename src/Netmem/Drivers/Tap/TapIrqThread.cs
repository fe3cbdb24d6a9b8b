namespace Netmem.Drivers.Tap;

/// <summary>
/// The "interrupt" of one tap queue: a thread blocked in poll(2) on the queue's fd that schedules the
/// queue's NAPI when a frame is waiting, then stays masked until the poll drains the fd (as a NIC's
/// interrupt stays off while NAPI runs). An eventfd in the same poll set wakes it for shutdown.
/// </summary>
internal sealed unsafe class TapIrqThread : IDisposable
{
    private readonly TapChannel _ch;
    private readonly int _eventFd;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public TapIrqThread(TapChannel channel, string deviceName)
    {
        _ch = channel;
        _eventFd = TapNative.EventFd(0, TapNative.EFD_NONBLOCK | TapNative.EFD_CLOEXEC);
        if (_eventFd < 0)
        {
            int e = TapNative.LastErrno;
            throw new NetmemErrnoException((Errno)e, $"{deviceName}: eventfd for the rx-{channel.Index} interrupt thread failed: {TapNative.ErrnoText(e)}");
        }
        _thread = new Thread(Loop) { IsBackground = true, Name = $"irq/{deviceName}-rx-{channel.Index}" };
        _thread.Start();
    }

    private void Loop()
    {
        var fds = stackalloc TapNative.PollFd[2];
        var napi = _ch.Napi;
        while (!_stopping)
        {
            fds[0] = new TapNative.PollFd { Fd = _ch.Fd, Events = TapNative.POLLIN };
            fds[1] = new TapNative.PollFd { Fd = _eventFd, Events = TapNative.POLLIN };
            int r = TapNative.Poll(fds, 2, -1);
            if (_stopping) break;
            if (r < 0)
            {
                if (TapNative.LastErrno == TapNative.EINTR) continue;
                break;
            }
            if ((fds[0].Revents & (TapNative.POLLERR | TapNative.POLLHUP | TapNative.POLLNVAL)) != 0) break;
            if ((fds[0].Revents & TapNative.POLLIN) == 0) continue;
            if (napi.IsDisabled)
            {
                Thread.Sleep(10); // the queue is restarting: nobody can take the frame yet
                continue;
            }
            var mem = _ch.Mem;
            if (mem is not null) mem.Queue.Stats.Interrupts++;
            _ch.Rearm.Reset();
            napi.Schedule();
            // Masked until the poll drains the fd; a stopped queue (NAPI disabled) never re-arms, so look again now and then.
            while (!_stopping && !_ch.Rearm.Wait(50))
                if (napi.IsDisabled) break;
        }
    }

    public void Dispose()
    {
        _stopping = true;
        ulong one = 1;
        TapNative.Write(_eventFd, &one, sizeof(ulong));
        _ch.Rearm.Set();
        _thread.Join();
        TapNative.Close(_eventFd);
    }
}
