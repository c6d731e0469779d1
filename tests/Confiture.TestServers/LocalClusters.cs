using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;

namespace Confiture.TestServers;

/// <summary>Two throwaway clusters under one temporary directory, started and removed together.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class LocalClusters : IAsyncDisposable
{
    // Debian and Fedora install runuser in /usr/sbin, which a non-login root PATH may lack.
    public static readonly string RunuserPath = File.Exists("/usr/sbin/runuser") ? "/usr/sbin/runuser" : "runuser";
    private const string TempRoot = "/tmp";
    private const string DirectoryPrefix = "confiture-pg-";
    private const int DefaultPostgresPort = 5432;

    // A directory with no postmaster.pid at all may belong to a run that is still inside initdb.
    private static readonly TimeSpan StaleWithoutServerAge = TimeSpan.FromMinutes(15);

    private readonly string _root;
    private readonly LocalCluster _source;
    private readonly LocalCluster _target;
    private readonly HashSet<int> _usedPorts;
    private int _disposed;

    private LocalClusters(string root, LocalCluster source, LocalCluster target, HashSet<int> usedPorts)
    {
        _root = root;
        _source = source;
        _target = target;
        _usedPorts = usedPorts;
    }

    public TestServer Source => Describe(_source);

    public TestServer Target => Describe(_target);

    public static async Task<LocalClusters> StartAsync(CancellationToken cancellationToken)
    {
        RemoveStaleDirectories();
        var binDirectory = await PostgresBinaries.FindBinDirectoryAsync(cancellationToken).ConfigureAwait(false);
        var runAsPostgres = string.Equals(Environment.UserName, "root", StringComparison.Ordinal);

        var root = Path.Combine(TempRoot, DirectoryPrefix + Secrets.Suffix(12));
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(root, OwnerOnly);

        var ports = new HashSet<int>();
        var firstPorts = FreePorts(2, ports);
        var source = new LocalCluster(Path.Combine(root, "source"), firstPorts[0], Secrets.Password(), binDirectory, runAsPostgres, ServerRoles.ConfigurationLines(ServerRoles.Source));
        var target = new LocalCluster(Path.Combine(root, "target"), firstPorts[1], Secrets.Password(), binDirectory, runAsPostgres, ServerRoles.ConfigurationLines(ServerRoles.Target));
        var clusters = new LocalClusters(root, source, target, ports);
        try
        {
            Directory.CreateDirectory(source.DataDirectory, OwnerOnly);
            Directory.CreateDirectory(target.DataDirectory, OwnerOnly);
            var sourcePasswordFile = await WritePasswordFileAsync(root, "source", source.Password, cancellationToken).ConfigureAwait(false);
            var targetPasswordFile = await WritePasswordFileAsync(root, "target", target.Password, cancellationToken).ConfigureAwait(false);
            if (runAsPostgres)
            {
                await ChownToPostgresAsync(root, cancellationToken).ConfigureAwait(false);
            }

            await Task.WhenAll(
                clusters.InitializeAndStartAsync(source, sourcePasswordFile, cancellationToken),
                clusters.InitializeAndStartAsync(target, targetPasswordFile, cancellationToken)).ConfigureAwait(false);
            return clusters;
        }
        catch
        {
            await clusters.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Cleanup runs even when the caller's token is already cancelled (Ctrl+C, failed start).
        await Task.WhenAll(StopQuietlyAsync(_source), StopQuietlyAsync(_target)).ConfigureAwait(false);
        DeleteQuietly(_root);
    }

    private static TestServer Describe(LocalCluster cluster) =>
        new(
            ConnectionStrings.Admin(IPAddress.Loopback.ToString(), cluster.Port, LocalCluster.Superuser, cluster.Password),
            IPAddress.Loopback.ToString(),
            cluster.Port,
            IPAddress.Loopback.ToString(),
            cluster.Port);

    private async Task InitializeAndStartAsync(LocalCluster cluster, string passwordFile, CancellationToken cancellationToken)
    {
        await cluster.InitializeAsync(passwordFile, cancellationToken).ConfigureAwait(false);
        File.Delete(passwordFile);
        await cluster.StartAsync(() => FreePorts(1, _usedPorts)[0], cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string> WritePasswordFileAsync(string root, string name, string password, CancellationToken cancellationToken)
    {
        var path = Path.Combine(root, name + ".pwfile");
        await File.WriteAllTextAsync(path, password + "\n", cancellationToken).ConfigureAwait(false);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private static async Task ChownToPostgresAsync(string path, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync(
            "chown", ["-R", LocalCluster.Superuser + ":", path], TimeSpan.FromSeconds(30), cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"Could not hand {path} to the OS user '{LocalCluster.Superuser}' (initdb refuses to run as root): {result.Describe()}");
        }
    }

    /// <summary>
    /// Ports the kernel hands out for port 0 are free right now. Holding all listeners until
    /// every port is chosen keeps them distinct; the used set keeps retries distinct too.
    /// </summary>
    private static int[] FreePorts(int count, HashSet<int> used)
    {
        lock (used)
        {
            var listeners = new List<TcpListener>();
            try
            {
                var ports = new List<int>();
                while (ports.Count < count)
                {
                    var listener = new TcpListener(IPAddress.Loopback, 0);
                    listeners.Add(listener);
                    listener.Start();
                    var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                    if (port != DefaultPostgresPort && used.Add(port))
                    {
                        ports.Add(port);
                    }
                }

                return [.. ports];
            }
            finally
            {
                foreach (var listener in listeners)
                {
                    listener.Stop();
                    listener.Dispose();
                }
            }
        }
    }

    private static async Task StopQuietlyAsync(LocalCluster cluster)
    {
        try
        {
            await cluster.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is InvalidOperationException or TimeoutException or IOException
                                              or System.ComponentModel.Win32Exception)
        {
            // Best effort: the directory is removed next either way.
        }
    }

    /// <summary>Removes directories left by killed runs: their servers are gone, nothing alive is touched.</summary>
    private static void RemoveStaleDirectories()
    {
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateDirectories(TempRoot, DirectoryPrefix + "*").ToList();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var directory in candidates)
        {
            try
            {
                if (IsStale(directory))
                {
                    DeleteQuietly(directory);
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // Someone else's, or in use: leave it.
            }
        }
    }

    private static bool IsStale(string directory)
    {
        var pidFiles = Directory.EnumerateDirectories(directory)
            .Select(cluster => Path.Combine(cluster, "postmaster.pid"))
            .Where(File.Exists)
            .ToList();
        if (pidFiles.Count == 0)
        {
            return DateTime.UtcNow - Directory.GetLastWriteTimeUtc(directory) > StaleWithoutServerAge;
        }

        foreach (var pidFile in pidFiles)
        {
            var firstLine = File.ReadLines(pidFile).FirstOrDefault();
            if (!int.TryParse(firstLine, out var pid) || IsAlive(pid))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void DeleteQuietly(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // A later run's stale-directory sweep retries.
        }
    }
}
