using Npgsql;

namespace Confiture.Core.Connections;

/// <summary>
/// A validated, pooled way into one database. It opens connections as each operation needs them
/// (parallel parts need several) and never shows its password: <see cref="ToString"/> and every
/// public property leave it out.
/// </summary>
public sealed class DatabaseEndpoint : IAsyncDisposable
{
    private const string DefaultApplicationName = "Confiture";

    /// <summary>
    /// Set on every session as a startup option, so it survives the pool's reset: a policy never
    /// hides a row from an emptiness check, a copy or a digest. Where a policy would apply to the
    /// role, PostgreSQL raises 42501 instead of filtering (translated into PermissionDenied).
    /// </summary>
    private const string RowSecurityOff = "-c row_security=off";

    /// <summary>
    /// How often a server checks, during a long statement, that Confiture is still there: a killed
    /// client's INSERT ... SELECT or COPY then stops within seconds instead of running to its end.
    /// PostgreSQL 14 added the setting; older servers would refuse it as a startup option, so it is
    /// added once the first connection has told the version (they notice a dead client only when
    /// they next write to it).
    /// </summary>
    private const string ConnectionCheck = "-c client_connection_check_interval=2000";

    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly NpgsqlDataSource _dataSource;
    private NpgsqlDataSource? _checked;
    private readonly object _gate = new();

    private DatabaseEndpoint(NpgsqlConnectionStringBuilder settings)
    {
        if (string.IsNullOrEmpty(settings.Host))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidConnectionString,
                "The connection string names no host.",
                recommendedAction: "Add Host=<server> (or the host part of the URI).");
        }

        if (string.IsNullOrEmpty(settings.ApplicationName))
        {
            settings.ApplicationName = DefaultApplicationName;
        }

        Host = settings.Host;
        Port = settings.Port;
        Username = string.IsNullOrEmpty(settings.Username) ? Environment.UserName : settings.Username;
        Database = string.IsNullOrEmpty(settings.Database) ? Username : settings.Database;
        SslMode = SslModes.ToLibpq(settings.SslMode);
        Password = settings.Password;
        settings.Username = Username;
        settings.Database = Database;
        settings.Options = string.IsNullOrEmpty(settings.Options) ? RowSecurityOff : settings.Options + " " + RowSecurityOff;
        _settings = settings;
        _dataSource = NpgsqlDataSource.Create(settings);
    }

    /// <summary>The server's host name, address or socket directory (a list when several).</summary>
    public string Host { get; }

    /// <summary>The server's port.</summary>
    public int Port { get; }

    /// <summary>The database.</summary>
    public string Database { get; }

    /// <summary>The user name.</summary>
    public string Username { get; }

    /// <summary>The TLS mode asked for, as libpq names it (<c>prefer</c>, <c>require</c>, <c>verify-full</c>...).</summary>
    public string SslMode { get; }

    /// <summary>Whether a password was given (never the password itself).</summary>
    public bool HasPassword => !string.IsNullOrEmpty(Password);

    /// <summary>The password, for the user mapping that lets the target read the source; nowhere else.</summary>
    internal string? Password { get; }

    /// <summary>Creates an endpoint from a keyword connection string or a <c>postgresql://</c> URI.</summary>
    public static DatabaseEndpoint FromConnectionString(string connectionString) =>
        new(ConnectionStringParser.Parse(connectionString));

    /// <summary>Creates an endpoint from its parts.</summary>
    /// <param name="host">Host name, address or socket directory.</param>
    /// <param name="port">TCP port.</param>
    /// <param name="database">Database name.</param>
    /// <param name="username">User name.</param>
    /// <param name="password">Password, or null to rely on the server's other methods.</param>
    /// <param name="sslMode">A libpq sslmode word; null for <c>prefer</c>.</param>
    public static DatabaseEndpoint FromParts(string host, int port, string database, string username, string? password, string? sslMode = null)
    {
        if (port is < 1 or > 65535)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, $"Port {port} is not from 1 to 65535.", host);
        }

        return new DatabaseEndpoint(new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Database = database,
            Username = username,
            Password = password,
            SslMode = sslMode is null ? Npgsql.SslMode.Prefer : SslModes.Parse(sslMode),
        });
    }

    /// <summary>Opens a pooled connection, turning the usual failures into clear errors.</summary>
    internal async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var checkedSource = Volatile.Read(ref _checked);
            if (checkedSource is not null)
            {
                return await checkedSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            }

            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            if (connection.PostgreSqlVersion.Major >= 14)
            {
                await using (var command = new NpgsqlCommand("SET client_connection_check_interval = 2000", connection))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                UseConnectionCheck();
            }

            return connection;
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification)
        {
            throw new ConfitureException(ConfitureErrorKind.AuthenticationFailed,
                $"{this} refused the login: {ex.MessageText}", ToString(),
                "Check the user name and password (and pg_hba.conf on the server).", ex);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            throw new ConfitureException(ConfitureErrorKind.DatabaseNotFound,
                $"Database \"{Database}\" does not exist on {Host}:{Port}.", ToString(),
                "Check the database name, or create the database first.", ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new ConfitureException(ConfitureErrorKind.ConnectionFailed,
                $"Could not connect to {this}: {ex.Message}", ToString(),
                "Check the host, port and network path to the server, and that PostgreSQL is running.", ex);
        }
    }

    /// <summary>
    /// The settings for a replication connection to this database (a change stream's walsender),
    /// with these startup options added; never pooled, as a walsender session is not reusable.
    /// </summary>
    internal string ReplicationConnectionString(string options) =>
        new NpgsqlConnectionStringBuilder(_settings.ConnectionString) { Options = _settings.Options + " " + options, Pooling = false }.ConnectionString;

    private void UseConnectionCheck()
    {
        lock (_gate)
        {
            _checked ??= NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_settings.ConnectionString)
            {
                Options = _settings.Options + " " + ConnectionCheck,
            });
        }
    }

    /// <summary>Connects once and reads who and where we are.</summary>
    public async Task<ServerDescription> DescribeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT current_user, current_database(), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_setting('server_version')",
            connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new ServerDescription(
            reader.GetString(0),
            reader.GetString(1),
            reader.GetBoolean(2),
            reader.GetString(3),
            connection.PostgreSqlVersion);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Username}@{Host}:{Port}/{Database}";

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        if (_checked is not null)
        {
            await _checked.DisposeAsync().ConfigureAwait(false);
        }
    }
}
