<#
    Helpers for the Pester suite: throwaway databases on the two test servers that build.ps1 Test
    started (their superuser connection strings arrive in CONFITURE_TEST_SOURCE/TARGET), and plain
    SQL through psql to arrange and assert, independent of the module under test.
#>

Set-StrictMode -Version Latest

function ConvertFrom-ConnectionString([string] $ConnectionString) {
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    # DbConnectionStringBuilder is an IDictionary: PowerShell's `.ConnectionString = ...` would add a
    # key named ConnectionString instead of parsing, so call the property's setter itself.
    $builder.set_ConnectionString($ConnectionString)
    $value = { param($names) foreach ($n in $names) { if ($builder.ContainsKey($n)) { return [string]$builder[$n] } } }
    [pscustomobject]@{
        Host     = & $value @('Host', 'Server')
        Port     = [int](& $value @('Port'))
        Database = & $value @('Database', 'Db')
        Username = & $value @('Username', 'User Id', 'User', 'UserId')
        Password = & $value @('Password')
    }
}

function Get-TestServer {
    <# The admin (superuser) connection parts of the Source or Target test server. #>
    param([Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side)
    $cs = if ($Side -eq 'Source') { $env:CONFITURE_TEST_SOURCE } else { $env:CONFITURE_TEST_TARGET }
    if (-not $cs) { throw 'CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET are not set: run the suite through build.ps1 Test.' }
    ConvertFrom-ConnectionString $cs
}

function New-ConnectionString {
    param([Parameter(Mandatory)] $Server, [string] $Database, [string] $Username, [string] $Password)
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder['Host'] = $Server.Host
    $builder['Port'] = $Server.Port
    $builder['Database'] = if ($Database) { $Database } else { $Server.Database }
    $builder['Username'] = if ($Username) { $Username } else { $Server.Username }
    $builder['Password'] = if ($PSBoundParameters.ContainsKey('Password')) { $Password } else { $Server.Password }
    $builder.get_ConnectionString()
}

function Invoke-TestSql {
    <#
        Runs SQL with psql on a test server as its superuser (or -Username/-Password) and returns the
        rows as arrays of strings (tab-separated fields). Fails on any SQL error.
    #>
    param(
        [Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side,
        [Parameter(Mandatory)][string] $Database,
        [Parameter(Mandatory)][string] $Sql,
        [string] $Username,
        [string] $Password,
        # Runs as the non-superuser migration role (so that it owns what the SQL creates).
        [switch] $AsMigrator
    )
    if ($AsMigrator) {
        $Username = $env:CONFITURE_TEST_MIGRATOR_USER
        $Password = $env:CONFITURE_TEST_MIGRATOR_PASSWORD
    }
    $server = Get-TestServer $Side
    $saved = $env:PGPASSWORD
    $savedEncoding = $env:PGCLIENTENCODING
    $savedStyle = $env:PGTZ, $env:PGDATESTYLE, $env:PGOPTIONS
    try {
        $env:PGCLIENTENCODING = 'UTF8'
        # The two test servers run in different zones and date styles: values print alike on both.
        $env:PGTZ = 'UTC'
        $env:PGDATESTYLE = 'ISO, YMD'
        $env:PGOPTIONS = '-c IntervalStyle=postgres -c extra_float_digits=3'
        $env:PGPASSWORD = if ($Username) { $Password } else { $server.Password }
        $user = if ($Username) { $Username } else { $server.Username }
        $output = $Sql | & psql -X -q -At -F "`t" -v ON_ERROR_STOP=1 -h $server.Host -p $server.Port -U $user -d $Database -f - 2>&1
        if ($LASTEXITCODE -ne 0) { throw "psql failed on $Side/${Database}: $($output -join [Environment]::NewLine)" }
        foreach ($line in @($output)) { if ($null -ne $line -and "$line" -ne '') { , ("$line" -split "`t") } }
    }
    finally {
        $env:PGPASSWORD = $saved
        $env:PGCLIENTENCODING = $savedEncoding
        $env:PGTZ, $env:PGDATESTYLE, $env:PGOPTIONS = $savedStyle
    }
}

function New-TestDatabasePair {
    <#
        Creates a database with a random name on each server. With the migration role granted (the
        default), the target database is owned by it and has postgres_fdw that it may use, as a DBA
        would prepare production.
    #>
    param([switch] $NoMigratorGrant)
    $name = 'confiture_pester_' + [Guid]::NewGuid().ToString('N').Substring(0, 12)
    $migrator = $env:CONFITURE_TEST_MIGRATOR_USER
    Invoke-TestSql -Side Source -Database postgres -Sql "CREATE DATABASE $name" | Out-Null
    $owner = if ($NoMigratorGrant) { '' } else { " OWNER $migrator" }
    Invoke-TestSql -Side Target -Database postgres -Sql "CREATE DATABASE $name$owner" | Out-Null
    if (-not $NoMigratorGrant) {
        Invoke-TestSql -Side Target -Database $name -Sql "CREATE EXTENSION postgres_fdw; GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO $migrator" | Out-Null
    }
    $source = Get-TestServer Source
    $target = Get-TestServer Target
    [pscustomobject]@{
        Database          = $name
        SourceAdmin       = New-ConnectionString -Server $source -Database $name
        TargetAdmin       = New-ConnectionString -Server $target -Database $name
        SourceMigrator    = New-ConnectionString -Server $source -Database $name -Username $migrator -Password $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        TargetMigrator    = New-ConnectionString -Server $target -Database $name -Username $migrator -Password $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        MigratorUser      = $migrator
        MigratorPassword  = $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        SourceHostForTarget = $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET
        SourcePortForTarget = $env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET
    }
}

function Remove-TestDatabasePair {
    param([Parameter(Mandatory)] $Pair)
    foreach ($side in 'Source', 'Target') {
        Invoke-TestSql -Side $side -Database postgres -Sql "DROP DATABASE IF EXISTS $($Pair.Database) WITH (FORCE)" | Out-Null
    }
}

function Get-ModuleManifestPath {
    Join-Path $PSScriptRoot '../../out/Confiture/Confiture.psd1' | Resolve-Path | Select-Object -ExpandProperty Path
}

function ConvertTo-SqlIdentifier {
    <# Quotes a name for the SQL the tests write themselves (the module under test does its own quoting). #>
    param([Parameter(Mandatory, ValueFromPipeline)][string] $Name)
    process { '"' + $Name.Replace('"', '""') + '"' }
}

function ConvertTo-SqlLiteral {
    <# Quotes a string literal for the SQL the tests write themselves (standard_conforming_strings is on). #>
    param([Parameter(Mandatory, ValueFromPipeline)][AllowEmptyString()][string] $Value)
    process { "'" + $Value.Replace("'", "''") + "'" }
}

function Get-TestSqlValue {
    <# The first field of the first row of a query, as a string ($null when there is no row). #>
    param(
        [Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side,
        [Parameter(Mandatory)][string] $Database,
        [Parameter(Mandatory)][string] $Sql,
        [switch] $AsMigrator
    )
    $rows = @(Invoke-TestSql -Side $Side -Database $Database -Sql $Sql -AsMigrator:$AsMigrator)
    if ($rows.Count -eq 0) { return $null }
    return $rows[0][0]
}

function Get-TestSqlText {
    <#
        A query's rows as one string: a line per row, fields joined by '|', NULL shown as empty. Compare
        the same SELECT ... ORDER BY on both sides to prove content, not only counts.
    #>
    param(
        [Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side,
        [Parameter(Mandatory)][string] $Database,
        [Parameter(Mandatory)][string] $Sql,
        [switch] $AsMigrator
    )
    (@(Invoke-TestSql -Side $Side -Database $Database -Sql $Sql -AsMigrator:$AsMigrator) | ForEach-Object { $_ -join '|' }) -join "`n"
}

function Get-FdwAddressParameter {
    <#
        The -SourceHostForTarget/-SourcePortForTarget to splat into Enable-ConfitureFdw: only when the
        target server sees the source under another address than this machine does (Docker), so that
        elsewhere the module's own choice of the source's real address is what gets tested.
    #>
    param([Parameter(Mandatory)] $Pair)
    $parameters = @{}
    $source = Get-TestServer Source
    if ($Pair.SourceHostForTarget -and $Pair.SourceHostForTarget -ne $source.Host) {
        $parameters.SourceHostForTarget = $Pair.SourceHostForTarget
    }
    if ($Pair.SourcePortForTarget -and [int]$Pair.SourcePortForTarget -ne $source.Port) {
        $parameters.SourcePortForTarget = [int]$Pair.SourcePortForTarget
    }
    $parameters
}

function Get-ExpectedSourceAddress {
    <# The host and port the target's foreign server must name for the source. #>
    param([Parameter(Mandatory)] $Pair)
    $source = Get-TestServer Source
    [pscustomobject]@{
        Host = if ($Pair.SourceHostForTarget) { $Pair.SourceHostForTarget } else { $source.Host }
        Port = if ($Pair.SourcePortForTarget) { [int]$Pair.SourcePortForTarget } else { $source.Port }
    }
}

function Get-FdwCatalogState {
    <#
        What postgres_fdw objects the target database holds, read as superuser: foreign servers, user
        mappings, foreign tables, whether the foreign schema exists, and the server's options.
    #>
    param(
        [Parameter(Mandatory)] $Pair,
        [string] $ServerName = 'confiture_source_server',
        [string] $ForeignSchema = 'old_schema'
    )
    $server = ConvertTo-SqlLiteral $ServerName
    $schema = ConvertTo-SqlLiteral $ForeignSchema
    $row = @(Invoke-TestSql -Side Target -Database $Pair.Database -Sql @"
SELECT (SELECT count(*) FROM pg_foreign_server),
       (SELECT count(*) FROM pg_foreign_server WHERE srvname = $server),
       (SELECT count(*) FROM pg_user_mappings),
       (SELECT count(*) FROM pg_foreign_table),
       (SELECT count(*) FROM pg_namespace WHERE nspname = $schema),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')),
       (SELECT coalesce(string_agg(o, ',' ORDER BY o), '') FROM pg_foreign_server s, unnest(s.srvoptions) o WHERE s.srvname = $server)
"@)[0]
    $options = @{}
    foreach ($option in ($row[6] -split ',' | Where-Object { $_ })) {
        $key, $value = $option -split '=', 2
        $options[$key] = $value
    }
    [pscustomobject]@{
        Servers         = [int]$row[0]
        NamedServers    = [int]$row[1]
        UserMappings    = [int]$row[2]
        ForeignTables   = [int]$row[3]
        ForeignSchemas  = [int]$row[4]
        Relations       = [int]$row[5]
        ServerOptions   = $options
    }
}

function Get-SecretForm {
    <#
        The ways a secret could show up in text: as is, JSON-escaped (ConvertTo-Json), percent-encoded
        (a URI), and SQL-literal-escaped. A test asserts that none of them appears.
    #>
    param([Parameter(Mandatory)][string] $Secret)
    $json = ($Secret | ConvertTo-Json -Compress).Trim('"')
    @($Secret, $json, [Uri]::EscapeDataString($Secret), $Secret.Replace("'", "''"), $Secret.Replace('\', '\\')) | Select-Object -Unique
}

function Get-HostOutput {
    <#
        Runs a script block and returns what it wrote to the host (such as -WhatIf's "What if:" text,
        which no stream redirection captures, read back through a transcript) as .Text, and what it
        emitted as .Output.
    #>
    param([Parameter(Mandatory)][scriptblock] $ScriptBlock)
    $path = Join-Path ([IO.Path]::GetTempPath()) ("confiture-transcript-" + [Guid]::NewGuid().ToString('N') + '.txt')
    $output = $null
    Start-Transcript -Path $path -UseMinimalHeader | Out-Null
    try {
        $output = @(& $ScriptBlock)
    }
    finally {
        Stop-Transcript | Out-Null
    }
    try {
        [pscustomobject]@{ Output = $output; Text = Get-Content -Raw -Path $path }
    }
    finally {
        Remove-Item -Path $path -ErrorAction SilentlyContinue
    }
}

function Invoke-InNewRunspace {
    <#
        Runs a script in a new runspace with the module imported and returns its output: for what is
        per runspace (the last session) and for a host that cannot prompt. The script should catch
        what it expects and output the error record.
    #>
    param(
        [Parameter(Mandatory)][scriptblock] $ScriptBlock,
        [hashtable] $Parameters = @{}
    )
    $shell = [powershell]::Create()
    try {
        $null = $shell.AddCommand('Import-Module').AddParameter('Name', (Get-ModuleManifestPath)).AddStatement()
        $null = $shell.AddScript($ScriptBlock.ToString()).AddParameters($Parameters)
        $shell.Invoke()
    }
    finally {
        $shell.Dispose()
    }
}

function New-UsersTables {
    <#
        The quick-start shape: source users(id, full_name, email, created_at) with $Rows rows (some
        names with quotes and accents, some NULL emails) and an empty target users(id, display_name,
        email) owned by the migration role.
    #>
    param(
        [Parameter(Mandatory)] $Pair,
        [int] $Rows = 300,
        # Leaves the target's primary key out (so that -Append can add the same rows again).
        [switch] $TargetWithoutKey
    )
    Invoke-TestSql -Side Source -Database $Pair.Database -Sql @"
CREATE TABLE users (id integer PRIMARY KEY, full_name text NOT NULL, email text, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO users (id, full_name, email, created_at)
SELECT g,
       'User ' || g || CASE WHEN g % 7 = 0 THEN ' O''Brien' WHEN g % 11 = 0 THEN ' Zoë Ångström' ELSE '' END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'user' || g || '@example.com' END,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, $Rows) AS g;
"@ | Out-Null
    $key = if ($TargetWithoutKey) { 'NOT NULL' } else { 'PRIMARY KEY' }
    Invoke-TestSql -Side Target -Database $Pair.Database -AsMigrator -Sql "CREATE TABLE public.users (id integer $key, display_name text NOT NULL, email text)" | Out-Null
}

function Get-CommandParameterName {
    <# A command's own parameter names, without the common ones (-Verbose, -WhatIf...). #>
    param([Parameter(Mandatory)][string] $Name)
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    (Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin $common }
}

function Invoke-ChildPwsh {
    <#
        Runs a script file in a new PowerShell process (the same PowerShell as this one, with the same
        environment) and returns its standard output lines; for what must not touch this process,
        such as loading another Npgsql into the default load context. Fails when the child fails.
    #>
    param([Parameter(Mandatory)][string] $Path, [string[]] $ArgumentList = @())
    $process = [Environment]::ProcessPath
    $arguments = [System.Collections.Generic.List[string]]::new()
    if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { $arguments.Add((Join-Path $PSHOME 'pwsh.dll')) }
    $arguments.AddRange([string[]]@('-NoProfile', '-NonInteractive', '-File', $Path))
    $arguments.AddRange([string[]]$ArgumentList)
    $output = & $process $arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "The child PowerShell failed ($LASTEXITCODE): $($output -join [Environment]::NewLine)" }
    $output | ForEach-Object { "$_" }
}

function Start-TestSqlSession {
    <#
        Starts psql as the superuser of a test server with its input left open, and sends it SQL:
        a second session that can hold a lock while the module works. Send more with
        .StandardInput.WriteLine(); end it with Stop-TestSqlSession.
    #>
    param(
        [Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side,
        [Parameter(Mandatory)][string] $Database,
        [Parameter(Mandatory)][string] $Sql
    )
    $server = Get-TestServer $Side
    $info = [System.Diagnostics.ProcessStartInfo]::new('psql')
    foreach ($argument in '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $server.Host, '-p', [string]$server.Port, '-U', $server.Username, '-d', $Database) {
        $info.ArgumentList.Add($argument)
    }
    $info.Environment['PGPASSWORD'] = $server.Password
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($info)
    $process.StandardInput.WriteLine($Sql)
    $process.StandardInput.Flush()
    $process
}

function Stop-TestSqlSession {
    <# Sends the last SQL (by default ROLLBACK) to a session from Start-TestSqlSession and waits for psql to end. #>
    param([Parameter(Mandatory)][System.Diagnostics.Process] $Session, [string] $Sql = 'ROLLBACK;')
    if (-not $Session.HasExited) {
        $Session.StandardInput.WriteLine($Sql)
        $Session.StandardInput.Close()
        if (-not $Session.WaitForExit(30000)) { $Session.Kill() }
    }
    $Session.Dispose()
}

function Wait-TestCondition {
    <#
        Waits until a condition holds, checking it every 50 ms, and fails with -Because after
        -TimeoutSeconds: for states another session reaches at its own pace (a lock granted, a
        query waiting), never as a guess at how long something takes.
    #>
    param(
        [Parameter(Mandatory)][scriptblock] $Condition,
        [Parameter(Mandatory)][string] $Because,
        [int] $TimeoutSeconds = 30
    )
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting until $Because" }
        [System.Threading.Thread]::Sleep(50)
    }
}

function Get-FreeTcpPort {
    <# A loopback port nothing listens on (bound then released), for "unreachable server" tests. #>
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

Export-ModuleMember -Function Get-TestServer, New-ConnectionString, Invoke-TestSql, New-TestDatabasePair, Remove-TestDatabasePair, Get-ModuleManifestPath,
    ConvertTo-SqlIdentifier, ConvertTo-SqlLiteral, Get-TestSqlValue, Get-TestSqlText, Get-FdwAddressParameter, Get-ExpectedSourceAddress,
    Get-FdwCatalogState, Get-SecretForm, Get-HostOutput, Invoke-InNewRunspace, New-UsersTables, Get-FreeTcpPort, Get-CommandParameterName, Invoke-ChildPwsh,
    Start-TestSqlSession, Stop-TestSqlSession, Wait-TestCondition
