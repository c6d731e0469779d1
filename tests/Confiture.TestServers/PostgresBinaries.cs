namespace Confiture.TestServers;

/// <summary>Locates the directory holding initdb, pg_ctl and postgres.</summary>
internal static class PostgresBinaries
{
    private const string DebianRoot = "/usr/lib/postgresql";

    public static async Task<string> FindBinDirectoryAsync(CancellationToken cancellationToken)
    {
        var fromPath = FindOnPath("initdb");
        if (fromPath is not null)
        {
            // Debian links only some tools into /usr/local/bin or /usr/bin; pg_ctl and postgres
            // live next to the real initdb, so follow the link before taking its directory.
            var resolved = File.ResolveLinkTarget(fromPath, returnFinalTarget: true)?.FullName ?? fromPath;
            var directory = Path.GetDirectoryName(resolved);
            if (directory is not null && HasServerTools(directory))
            {
                return directory;
            }
        }

        var pgConfig = FindOnPath("pg_config");
        if (pgConfig is not null)
        {
            try
            {
                var result = await ProcessRunner.RunAsync(
                    pgConfig, ["--bindir"], TimeSpan.FromSeconds(10), cancellationToken: cancellationToken).ConfigureAwait(false);
                var directory = result.StandardOutput.Trim();
                if (result.ExitCode == 0 && HasServerTools(directory))
                {
                    return directory;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not executable after all; try the next place.
            }
        }

        if (Directory.Exists(DebianRoot))
        {
            var highest = Directory.EnumerateDirectories(DebianRoot)
                .Select(version => (Version: ParseVersion(Path.GetFileName(version)), Bin: Path.Combine(version, "bin")))
                .Where(candidate => candidate.Version is not null && HasServerTools(candidate.Bin))
                .OrderByDescending(candidate => candidate.Version)
                .Select(candidate => candidate.Bin)
                .FirstOrDefault();
            if (highest is not null)
            {
                return highest;
            }
        }

        throw new InvalidOperationException(
            "PostgreSQL server binaries not found; install postgresql and postgresql-contrib " +
            "(for example 'apt-get install postgresql postgresql-contrib'), put initdb on PATH, " +
            "set CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET to existing servers, or run a Docker engine.");
    }

    private static string? FindOnPath(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
    }

    private static bool HasServerTools(string directory) =>
        directory.Length > 0
        && File.Exists(Path.Combine(directory, "initdb"))
        && File.Exists(Path.Combine(directory, "pg_ctl"))
        && File.Exists(Path.Combine(directory, "postgres"));

    private static Version? ParseVersion(string name) =>
        Version.TryParse(name.Contains('.', StringComparison.Ordinal) ? name : name + ".0", out var version) ? version : null;
}
