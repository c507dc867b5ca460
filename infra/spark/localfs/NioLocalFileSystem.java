/*
 * The local file system (scheme file:) for GeoPulse's Spark jobs: Hadoop's RawLocalFileSystem,
 * except that permissions are set through java.nio instead of a `chmod` process.
 *
 * For: a lake on a local or shared POSIX path (one machine, the standalone cluster). Without
 * Hadoop's native library, RawLocalFileSystem forks `chmod` for every directory and file it
 * creates; a write of a year of daily partitions forked thousands of them. As a raw file system
 * it writes no .crc side files either (the lake's Parquet files carry their own checksums).
 * Built by infra/spark/localfs/build.sh into the environment; jobs/common/spark.py selects it
 * (spark.hadoop.fs.file.impl) when the jar is present. Object-storage lakes (s3a) do not use it.
 */
package geopulse.hadoop;

import static java.nio.file.attribute.PosixFilePermission.GROUP_EXECUTE;
import static java.nio.file.attribute.PosixFilePermission.GROUP_READ;
import static java.nio.file.attribute.PosixFilePermission.GROUP_WRITE;
import static java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE;
import static java.nio.file.attribute.PosixFilePermission.OTHERS_READ;
import static java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE;
import static java.nio.file.attribute.PosixFilePermission.OWNER_EXECUTE;
import static java.nio.file.attribute.PosixFilePermission.OWNER_READ;
import static java.nio.file.attribute.PosixFilePermission.OWNER_WRITE;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

public class NioLocalFileSystem extends RawLocalFileSystem {
  /** Bit i of a POSIX mode (least significant first) is BITS[i]. */
  private static final PosixFilePermission[] BITS = {
    OTHERS_EXECUTE, OTHERS_WRITE, OTHERS_READ,
    GROUP_EXECUTE, GROUP_WRITE, GROUP_READ,
    OWNER_EXECUTE, OWNER_WRITE, OWNER_READ,
  };

  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    Files.setPosixFilePermissions(pathToFile(p).toPath(), posix(permission.toShort()));
  }

  static Set<PosixFilePermission> posix(short mode) {
    Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
    for (int i = 0; i < BITS.length; i++) {
      if (((mode >> i) & 1) != 0) {
        set.add(BITS[i]);
      }
    }
    return set;
  }
}
