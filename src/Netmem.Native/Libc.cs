using System.Runtime.InteropServices;

namespace Netmem.Native;

/// <summary>The few libc calls the C ABI makes itself: placeholder descriptors, and the namespace's tun0 offload switches.</summary>
internal static partial class Libc
{
    private const int O_RDONLY = 0, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    private const int AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0x80000;
    private const ulong SIOCETHTOOL = 0x8946;
    private const uint ETHTOOL_GTSO = 0x1e, ETHTOOL_GGSO = 0x23;
    private const int IfNameSize = 16, IfReqSize = 40;

    [LibraryImport("libc", EntryPoint = "socket")]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "ioctl")]
    private static partial int Ioctl(int fd, ulong request, IntPtr arg);

    /// <summary>
    /// The namespace's TSO and GSO switches of interface <paramref name="ifName"/> (what <c>ethtool -k</c>
    /// calls tcp-segmentation-offload and generic-segmentation-offload), read with the SIOCETHTOOL ioctl
    /// (ETHTOOL_GTSO, ETHTOOL_GGSO) on a kernel datagram socket. False when there is no such interface or
    /// the ioctl is refused.
    /// </summary>
    public static bool TryGetSegmentationOffloads(string ifName, out bool tso, out bool gso)
    {
        tso = gso = false;
        var name = System.Text.Encoding.ASCII.GetBytes(ifName);
        if (name.Length >= IfNameSize) return false;
        int fd = Socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        IntPtr ifr = Marshal.AllocHGlobal(IfReqSize), value = Marshal.AllocHGlobal(8);
        try
        {
            if (!Query(fd, ifr, value, name, ETHTOOL_GTSO, out tso)) return false;
            return Query(fd, ifr, value, name, ETHTOOL_GGSO, out gso);
        }
        finally
        {
            Marshal.FreeHGlobal(ifr);
            Marshal.FreeHGlobal(value);
            Close(fd);
        }
    }

    // struct ifreq { char ifr_name[16]; void *ifr_data; ... } pointing at struct ethtool_value { u32 cmd; u32 data; }.
    private static bool Query(int fd, IntPtr ifr, IntPtr value, byte[] name, uint cmd, out bool on)
    {
        on = false;
        for (int i = 0; i < IfReqSize; i++) Marshal.WriteByte(ifr, i, 0);
        Marshal.Copy(name, 0, ifr, name.Length);
        Marshal.WriteIntPtr(ifr, IfNameSize, value);
        Marshal.WriteInt32(value, 0, (int)cmd);
        Marshal.WriteInt32(value, 4, 0);
        if (Ioctl(fd, SIOCETHTOOL, ifr) < 0) return false;
        on = Marshal.ReadInt32(value, 4) != 0;
        return true;
    }

    /// <summary>A real descriptor (on /dev/null) whose number names a socket of ours; negative when none is left.</summary>
    public static int OpenPlaceholder() => Open("/dev/null", O_RDONLY | O_CLOEXEC);

    /// <summary>Whether <paramref name="fd"/> is still an open /dev/null (so still a placeholder of ours).</summary>
    public static bool IsPlaceholder(int fd)
    {
        try { return new FileInfo($"/proc/self/fd/{fd}").LinkTarget == "/dev/null"; }
        catch (IOException) { return false; }
    }

    /// <summary>Closes a placeholder; one the caller already closed with the real close() is fine (EBADF ignored).</summary>
    public static void ClosePlaceholder(int fd) => Close(fd);
}
