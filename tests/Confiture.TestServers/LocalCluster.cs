using System.Globalization;
using System.Runtime.Versioning;
using System.Text;

namespace Confiture.TestServers;

/// <summary>One throwaway PostgreSQL cluster in a directory of its own, run through initdb and pg_ctl.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class LocalCluster
{
    public const string Superuser = "postgres";
    private const int MaxStartAttempts = 3;
    private static readonly TimeSpan InitdbTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private readonly string _binDirectory;
    private readonly bool _runAsPostgres;
    private readonly string _roleSettings;

    public LocalCluster(string dataDirectory, int port, string password, string binDirectory, bool runAsPostgres, string roleSettings)
    {
        DataDirectory = dataDirectory;
        _roleSettings = roleSettings;
        Port = port;
        Password = password;
        _binDirectory = binDirectory;
        _runAsPostgres = runAsPostgres;
    }

    public string DataDirectory { get; }

    public int Port { get; private set; }

    public string Password { get; }

    private string LogFile => Path.Combine(DataDirectory, "log");

    public async Task InitializeAsync(string passwordFile, CancellationToken cancellationToken)
    {
        var result = await RunToolAsync(
            "initdb",
            [
                "-D", DataDirectory,
                "-U", Superuser,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile=" + passwordFile,
                "-E", "UTF8",
                "--locale=C.UTF-8",
                // The cluster is thrown away at the end; fsync of the fresh files only costs time.
                "--no-sync",
            ],
            InitdbTimeout,
            cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"initdb failed for {DataDirectory}: {result.Describe()}");
        }

        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), Settings(), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Starts the server; if the chosen port was taken in the meantime, moves to another one.</summary>
    public async Task StartAsync(Func<int> pickAnotherPort, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var result = await RunToolAsync(
                "pg_ctl",
                ["-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "start"],
                StartTimeout,
                cancellationToken).ConfigureAwait(false);
            if (result.ExitCode == 0)
            {
                return;
            }

            var log = ReadLogTail();
            if (attempt < MaxStartAttempts && log.Contains("could not bind", StringComparison.OrdinalIgnoreCase))
            {
                Port = pickAnotherPort();

                // Later settings in postgresql.conf override earlier ones.
                await File.AppendAllTextAsync(
                    Path.Combine(DataDirectory, "postgresql.conf"),
                    string.Create(CultureInfo.InvariantCulture, $"port = {Port}\n"),
                    cancellationToken).ConfigureAwait(false);
                continue;
            }

            throw new InvalidOperationException(
                $"pg_ctl start failed for {DataDirectory}: {result.Describe()}{Environment.NewLine}" +
                $"Server log (tail):{Environment.NewLine}{log}");
        }
    }

    /// <summary>Stops the server if one may be running; immediate mode because the data is thrown away.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            return;
        }

        await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "stop"], StopTimeout, cancellationToken)
            .ConfigureAwait(false);
    }

    private string Settings()
    {
        var settings = new StringBuilder();
        settings.AppendLine();
        settings.AppendLine("# Throwaway test cluster: speed over durability.");
        settings.AppendLine("listen_addresses = '127.0.0.1'");
        settings.AppendLine(CultureInfo.InvariantCulture, $"port = {Port}");
        settings.AppendLine(CultureInfo.InvariantCulture, $"unix_socket_directories = '{DataDirectory.Replace("'", "''", StringComparison.Ordinal)}'");
        settings.AppendLine("fsync = off");
        settings.AppendLine("synchronous_commit = off");
        settings.AppendLine("full_page_writes = off");
        settings.AppendLine("password_encryption = 'scram-sha-256'");
        settings.AppendLine("max_connections = 100");
        settings.AppendLine("shared_buffers = 128MB");
        settings.AppendLine(_roleSettings);
        return settings.ToString();
    }

    private string ReadLogTail()
    {
        try
        {
            var lines = File.ReadAllLines(LogFile);
            return string.Join(Environment.NewLine, lines.Skip(Math.Max(0, lines.Length - 40)));
        }
        catch (IOException exception)
        {
            return $"(no server log: {exception.Message})";
        }
        catch (UnauthorizedAccessException exception)
        {
            return $"(server log not readable: {exception.Message})";
        }
    }

    private Task<ProcessResult> RunToolAsync(
        string tool, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var toolPath = Path.Combine(_binDirectory, tool);

        // initdb and postgres refuse to run as root; the cluster belongs to the postgres OS user instead.
        // The working directory is one that user can enter, or the tools complain about the caller's.
        var workingDirectory = Path.GetDirectoryName(DataDirectory);
        return _runAsPostgres
            ? ProcessRunner.RunAsync(
                LocalClusters.RunuserPath, ["-u", Superuser, "--", toolPath, .. arguments], timeout, workingDirectory, cancellationToken)
            : ProcessRunner.RunAsync(toolPath, arguments, timeout, workingDirectory, cancellationToken);
    }
}
