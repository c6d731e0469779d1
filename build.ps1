<#
.SYNOPSIS
    Builds, tests and demonstrates the Confiture module.
.DESCRIPTION
    Build  leaves an importable module in out/Confiture.
    Test   builds, starts two throwaway PostgreSQL servers (unless CONFITURE_TEST_SOURCE and
           CONFITURE_TEST_TARGET name real ones), runs the xunit and Pester suites, stops the
           servers even on failure, and ends with "Tests: N passed, M failed, K skipped".
           Exits non-zero when anything failed. -PesterPath and -UnitFilter run only what they
           name (for working on one part; CI runs everything).
    Demo   runs the whole migration pipeline on a small dataset, on throwaway servers unless
           -SourceConnectionString and -TargetConnectionString name real ones.
    Bench  measures Confiture against psql, postgres_fdw by hand and pgcopydb on throwaway
           servers and writes bench/RESULTS.md (-Rows sets the narrow table's size).
    WholeDatabase times a 22-table database moved by Confiture's run, pgcopydb clone and psql pipes
           and writes its section of bench/RESULTS.md (-Rows sets the rows of all tables together).
    Cutover measures the write freeze of examples/zero-downtime.ps1 under a steady write load.
    Package makes out/Confiture.zip, importable by Azure Automation, and out/Confiture.<version>.nupkg
           (PSResourceGet's package, for a gallery or a folder repository).
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'WholeDatabase', 'Cutover', 'Package')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Demo: superuser connection strings of real servers to use instead of throwaway ones.
    [string] $SourceConnectionString,
    [string] $TargetConnectionString,

    # Bench: rows of the narrow table; WholeDatabase: rows of all its tables together.
    [ValidateRange(1000, 1000000000)]
    [int] $Rows = 5000000,

    # Test: run only these Pester files (and no xunit test unless -UnitFilter is given too).
    [string[]] $PesterPath,

    # Test: run only the xunit tests this dotnet test --filter selects (and no Pester file unless -PesterPath is given too).
    [string] $UnitFilter
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$out = Join-Path $root 'out'
$moduleDir = Join-Path $out 'Confiture'

function Invoke-Native {
    param([Parameter(Mandatory)][string] $Command, [string[]] $Arguments = @())
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Command $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    Write-Host "Building Confiture ($Configuration)"
    $publish = Join-Path $out 'publish'
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/Confiture.PowerShell/Confiture.PowerShell.csproj'), '-c', $Configuration, '-o', $publish, '--nologo', '-v', 'q', '-clp:NoSummary')

    # The cmdlet assembly sits at the top; everything it loads privately goes to Dependencies/.
    if (Test-Path $moduleDir) { Remove-Item $moduleDir -Recurse -Force }
    $dependencies = New-Item -ItemType Directory -Path (Join-Path $moduleDir 'Dependencies') -Force
    Copy-Item (Join-Path $root 'Confiture.psd1') $moduleDir
    Copy-Item (Join-Path $root 'LICENSE') (Join-Path $moduleDir 'LICENSE.txt')
    Copy-Item (Join-Path $publish 'Confiture.PowerShell.dll') $moduleDir
    Get-ChildItem $publish -Filter '*.dll' |
        Where-Object Name -NE 'Confiture.PowerShell.dll' |
        Copy-Item -Destination $dependencies
    $moduleFiles = Join-Path $root 'src/Confiture.PowerShell/Module'
    if (Test-Path $moduleFiles) {
        # Formats, help sources and the like, laid out as they sit in the module.
        Get-ChildItem $moduleFiles -File -Recurse | Where-Object Extension -NE '.md' | ForEach-Object {
            $relative = [IO.Path]::GetRelativePath($moduleFiles, $_.FullName)
            $destination = Join-Path $moduleDir $relative
            New-Item -ItemType Directory -Path (Split-Path $destination) -Force | Out-Null
            Copy-Item $_.FullName $destination
        }
    }
    $helpBuilder = Join-Path $root 'src/Confiture.PowerShell/Help/Build-Help.ps1'
    if (Test-Path $helpBuilder) { & $helpBuilder -Destination $moduleDir }
    Write-Host "Module ready: $moduleDir"
}

function Invoke-Package {
    Invoke-Build
    $zip = Join-Path $out 'Confiture.zip'
    if (Test-Path $zip) { Remove-Item $zip -Force }
    # Azure Automation wants the module folder, named like the manifest, at the root of the archive.
    Compress-Archive -Path $moduleDir -DestinationPath $zip
    Write-Host "Package ready: $zip"
    Invoke-NuGetPackage
}

function Invoke-NuGetPackage {
    # The .nupkg a gallery takes, made by PSResourceGet (part of PowerShell 7.4+) publishing to a
    # throwaway folder repository: no network, and on Linux and macOS not even the user's list of
    # repositories is touched (PSResourceGet keeps it under XDG_DATA_HOME).
    $manifest = Import-PowerShellDataFile (Join-Path $moduleDir 'Confiture.psd1')
    $nupkg = Join-Path $out "Confiture.$($manifest.ModuleVersion).nupkg"
    Get-ChildItem $out -Filter 'Confiture.*.nupkg' | Remove-Item -Force
    $work = Join-Path ([IO.Path]::GetTempPath()) ('confiture-nupkg-' + [Guid]::NewGuid().ToString('N'))
    $repository = New-Item -ItemType Directory -Path (Join-Path $work 'repository')
    $savedData = $env:XDG_DATA_HOME
    $name = 'ConfiturePackage' + [Guid]::NewGuid().ToString('N').Substring(0, 8)
    try {
        # .NET reads XDG_DATA_HOME only when the folder exists (else the store lands in the working directory).
        if (-not $IsWindows) { $env:XDG_DATA_HOME = (New-Item -ItemType Directory -Path (Join-Path $work 'data')).FullName }
        Import-Module Microsoft.PowerShell.PSResourceGet -ErrorAction Stop
        Register-PSResourceRepository -Name $name -Uri $repository.FullName -Trusted
        Publish-PSResource -Path $moduleDir -Repository $name -SkipDependenciesCheck
        Copy-Item (Join-Path $repository.FullName (Split-Path $nupkg -Leaf)) $nupkg
    }
    finally {
        Unregister-PSResourceRepository -Name $name -ErrorAction SilentlyContinue
        $env:XDG_DATA_HOME = $savedData
        Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
    }
    Write-Host "Package ready: $nupkg"
}

function Invoke-WithTestServers([scriptblock] $Work) {
    Install-PostgresIfMissing
    Invoke-Build
    Invoke-Native dotnet @('build', (Join-Path $root 'tests/Confiture.TestServers/Confiture.TestServers.csproj'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:NoSummary')
    $servers = $null
    try {
        $servers = Start-TestServers
        & $Work
    }
    finally {
        Stop-TestServers $servers
    }
}

function Invoke-Bench {
    Invoke-WithTestServers {
        & (Join-Path $root 'bench/Invoke-Benchmark.ps1') -ModulePath (Join-Path $moduleDir 'Confiture.psd1') -Rows $Rows -ResultsPath (Join-Path $root 'bench/RESULTS.md')
    }
}

function Invoke-WholeDatabase {
    Invoke-WithTestServers {
        & (Join-Path $root 'bench/Invoke-WholeDatabaseBenchmark.ps1') -ModulePath (Join-Path $moduleDir 'Confiture.psd1') -Rows $Rows -ResultsPath (Join-Path $root 'bench/RESULTS.md')
    }
}

function Invoke-Cutover {
    Invoke-WithTestServers {
        & (Join-Path $root 'bench/Measure-Cutover.ps1') -ModulePath (Join-Path $moduleDir 'Confiture.psd1') -Rows ([math]::Min($Rows, 1000000))
    }
}

function Find-PostgresBinaries {
    # The Pester suite arranges its data with psql, so the client counts too.
    if (-not (Get-Command psql -ErrorAction SilentlyContinue)) { return $false }
    if (Get-Command initdb -ErrorAction SilentlyContinue) { return $true }
    $pgConfig = Get-Command pg_config -ErrorAction SilentlyContinue
    if ($pgConfig -and (Test-Path (Join-Path (& $pgConfig.Source --bindir) 'initdb'))) { return $true }
    return [bool](Get-ChildItem '/usr/lib/postgresql/*/bin/initdb' -ErrorAction SilentlyContinue)
}

function Install-PostgresIfMissing {
    if ($env:CONFITURE_TEST_SOURCE -and $env:CONFITURE_TEST_TARGET) { return }
    if (-not $IsLinux -or (Find-PostgresBinaries)) { return }
    $isRoot = (& id -u) -eq '0'
    if ($isRoot -and (Get-Command apt-get -ErrorAction SilentlyContinue)) {
        Write-Host 'PostgreSQL server binaries not found: installing postgresql and postgresql-contrib'
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native apt-get @('update', '-qq')
        Invoke-Native apt-get @('install', '-y', '-qq', 'postgresql', 'postgresql-contrib')
        return
    }
    Write-Warning 'PostgreSQL server binaries not found; the test fixture will report what to install.'
}

function Install-ChromiumIfMissing {
    # The report test renders Export-ConfitureReport's HTML in a real headless browser.
    if (-not $IsLinux -or (Test-Path '/usr/bin/chromium')) { return }
    $isRoot = (& id -u) -eq '0'
    if ($isRoot -and (Get-Command apt-get -ErrorAction SilentlyContinue)) {
        Write-Host 'Chromium not found: installing Debian''s chromium package for the report test'
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native apt-get @('update', '-qq')
        Invoke-Native apt-get @('install', '-y', '-qq', '--no-install-recommends', 'chromium')
        return
    }
    Write-Warning 'Chromium (/usr/bin/chromium) not found: the report test will fail; install the chromium package.'
}

function Start-TestServers {
    $host_ = Join-Path $root "tests/Confiture.TestServers/bin/$Configuration/net8.0/Confiture.TestServers.dll"
    $info = [System.Diagnostics.ProcessStartInfo]::new('dotnet')
    $info.ArgumentList.Add($host_)
    $info.ArgumentList.Add('serve')
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($info)
    $line = $process.StandardOutput.ReadLineAsync()
    if (-not $line.Wait([TimeSpan]::FromMinutes(5)) -or -not $line.Result) {
        if (-not $process.HasExited) { $process.Kill($true) }
        throw 'The PostgreSQL test servers did not start (see the messages above).'
    }
    $servers = $line.Result | ConvertFrom-Json
    $env:CONFITURE_TEST_SOURCE = $servers.source
    $env:CONFITURE_TEST_TARGET = $servers.target
    $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET = $servers.sourceHostForTarget
    $env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET = [string]$servers.sourcePortForTarget
    $env:CONFITURE_TEST_MIGRATOR_USER = $servers.migratorUser
    $env:CONFITURE_TEST_MIGRATOR_PASSWORD = $servers.migratorPassword
    Write-Host "Test servers: $($servers.mode)"
    return $process
}

function Stop-TestServers([System.Diagnostics.Process] $Process) {
    if (-not $Process -or $Process.HasExited) { return }
    # Closing its standard input tells the fixture to stop and remove the clusters.
    $Process.StandardInput.Close()
    if (-not $Process.WaitForExit(60000)) { $Process.Kill($true) }
}

function Read-TrxCounts([string] $Path) {
    if (-not (Test-Path $Path)) { return $null }
    $counters = ([xml](Get-Content -Raw $Path)).TestRun.ResultSummary.Counters
    return [pscustomobject]@{
        passed  = [int]$counters.passed
        failed  = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
        skipped = [int]$counters.notExecuted
    }
}

function Get-PesterModulePath {
    Invoke-Native dotnet @('restore', (Join-Path $root 'tests/Pester/Pester.Restore.csproj'), '--nologo', '-v', 'q')
    $cache = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { ((& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim() }
    $path = Join-Path $cache 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $path)) { throw "Pester 5.7.1 was restored but not found at $path" }
    return $path
}

function Invoke-Test {
    Install-PostgresIfMissing
    if (-not ($PesterPath -or $UnitFilter) -or ($PesterPath -match 'Report')) { Install-ChromiumIfMissing }
    # The package is part of what is tested (imported from the zip in a fresh process).
    Invoke-Package
    Invoke-Native dotnet @('build', (Join-Path $root 'Confiture.sln'), '-c', $Configuration, '--nologo', '-v', 'q', '-clp:NoSummary')
    $pester = Get-PesterModulePath
    $results = Join-Path $out 'test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Path $results | Out-Null

    $suites = [ordered]@{}
    $servers = $null
    $saved = @{}
    'CONFITURE_TEST_SOURCE', 'CONFITURE_TEST_TARGET', 'CONFITURE_TEST_SOURCE_HOST_FOR_TARGET', 'CONFITURE_TEST_SOURCE_PORT_FOR_TARGET',
    'CONFITURE_TEST_MIGRATOR_USER', 'CONFITURE_TEST_MIGRATOR_PASSWORD' | ForEach-Object { $saved[$_] = [Environment]::GetEnvironmentVariable($_) }
    try {
        $servers = Start-TestServers

        # A focused run (-PesterPath, -UnitFilter) runs only what it names; the plain Test runs everything.
        $focused = $PesterPath -or $UnitFilter
        if (-not $focused -or $UnitFilter) {
            Write-Host 'xunit: engine tests'
            $filter = if ($UnitFilter) { @('--filter', $UnitFilter) } else { @() }
            & dotnet test (Join-Path $root 'tests/Unit/Confiture.Tests.Unit.csproj') -c $Configuration --no-build --nologo @filter `
                --logger 'console;verbosity=normal' --logger 'trx;LogFileName=unit.trx' --results-directory $results
            $unitExit = $LASTEXITCODE
            $suites['xunit'] = Read-TrxCounts (Join-Path $results 'unit.trx')
            if ($unitExit -ne 0 -and $suites['xunit'] -and $suites['xunit'].failed -eq 0) {
                # An aborted or crashed test host leaves counts that look clean.
                Write-Host "dotnet test exited with ${unitExit}: counted as one failure."
                $suites['xunit'].failed = 1
            }
        }

        if (-not $focused -or $PesterPath) {
            Write-Host 'Pester: the module end to end'
            $summary = Join-Path $results 'pester.json'
            $paths = if ($PesterPath) { @('-PathList', (($PesterPath | ForEach-Object { $_ -split ',' } | ForEach-Object { (Resolve-Path $_).Path }) -join [IO.Path]::PathSeparator)) } else { @() }
            & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/Pester/Run.ps1') -PesterModule $pester -SummaryPath $summary @paths
            $suites['Pester'] = if (Test-Path $summary) { Get-Content -Raw $summary | ConvertFrom-Json } else { $null }
        }
    }
    finally {
        Stop-TestServers $servers
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
    }

    $passed = 0; $failed = 0; $skipped = 0
    foreach ($suite in $suites.Keys) {
        $counts = $suites[$suite]
        if ($null -eq $counts) {
            Write-Host "$suite did not report results: counted as one failure."
            $failed++
            continue
        }
        Write-Host "${suite}: $($counts.passed) passed, $($counts.failed) failed, $($counts.skipped) skipped"
        $passed += $counts.passed; $failed += $counts.failed; $skipped += $counts.skipped
    }
    if ($passed -eq 0) { $failed++ }
    Write-Host "Tests: $passed passed, $failed failed, $skipped skipped"
    exit ([int]($failed -gt 0))
}

function Invoke-Demo {
    $demo = Join-Path $root 'examples/demo.ps1'
    $module = Join-Path $moduleDir 'Confiture.psd1'
    if ($SourceConnectionString -and $TargetConnectionString) {
        Invoke-Build
        & $demo -SourceConnectionString $SourceConnectionString -TargetConnectionString $TargetConnectionString -ModulePath $module
        return
    }

    Invoke-WithTestServers {
        $peer = @{}
        if ($env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET) { $peer.SourceHostForTarget = $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET }
        if ($env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET) { $peer.SourcePortForTarget = [int]$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET }
        & $demo -SourceConnectionString $env:CONFITURE_TEST_SOURCE -TargetConnectionString $env:CONFITURE_TEST_TARGET -ModulePath $module @peer
    }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
    'WholeDatabase' { Invoke-WholeDatabase }
    'Cutover' { Invoke-Cutover }
    'Package' { Invoke-Package }
}
